"""Real instrumentations of the real openai SDK, against an OpenAI-compatible server on 127.0.0.1.

The official `opentelemetry-instrumentation-openai-v2` and OpenInference's instrumentation
name spans and token attributes differently; the gate reads both.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

SERVER = '''
import json, os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    """Answers chat completions in about 20 ms; output tokens scale with OUTPUT_SCALE."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        case = int(prompt.split()[-1])
        output = round((20 + case % 7) * float(os.environ.get("OUTPUT_SCALE", "1")))
        time.sleep(0.02)  # a model's time: loopback alone is too fast to time steadily
        reply = {{
            "id": "chatcmpl-{{}}".format(case), "object": "chat.completion", "created": 1,
            "model": body["model"],
            "choices": [{{"index": 0, "finish_reason": "stop",
                          "message": {{"role": "assistant", "content": "ok " * output}}}}],
            "usage": {{"prompt_tokens": 10 + case % 3, "completion_tokens": output,
                       "total_tokens": 10 + case % 3 + output}},
        }}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())  # the app's own provider
from {module} import OpenAIInstrumentor
OpenAIInstrumentor().instrument()

import openai
client = openai.OpenAI(base_url=f"http://127.0.0.1:{{server.server_port}}/v1", api_key="test")
'''

SUITE = """
import pytest
from conftest import client

@pytest.mark.parametrize("case", range(30))
def test_prompt(case):
    for _ in range(3):
        answer = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": f"question {case}"}]
        )
        assert answer.choices[0].message.content.startswith("ok")
"""

INSTRUMENTATIONS = {
    "openai-v2": ("opentelemetry.instrumentation.openai_v2", "chat gpt-test"),
    "openinference": ("openinference.instrumentation.openai", "ChatCompletion"),
}


def checks(report: dict[str, Any], series: str) -> dict[str, str]:
    return {c["metric"]: c["verdict"] for c in report["checks"] if c["series"] == series}


@pytest.mark.parametrize("instrumentation", list(INSTRUMENTATIONS))
def test_token_counts_from_a_real_instrumentation_are_gated(
    pytester: pytest.Pytester,
    run_llmobs: Any,
    monkeypatch: pytest.MonkeyPatch,
    instrumentation: str,
) -> None:
    module, span = INSTRUMENTATIONS[instrumentation]
    pytester.makeconftest(SERVER.format(module=module))
    pytester.makepyfile(test_chat=SUITE)
    pytester.makepyprojecttoml('[tool.llmobs.prices]\n"gpt-test" = {input = 1.0, output = 4.0}\n')
    monkeypatch.setenv("OUTPUT_SCALE", "1")

    result, report = run_llmobs("--llmobs-update-baseline")
    assert result.ret == 0, result.stdout.str()
    [chat] = [s for s in report["series"] if s["name"] == span]
    assert chat["count"] == 90
    assert chat["tokens"]["output"]["mean"] == pytest.approx(23, abs=0.5)
    assert chat["tokens"]["input"]["mean"] == pytest.approx(11, abs=0.5)
    cost = chat["cost_usd"]["mean"]  # priced in pyproject.toml
    assert cost == pytest.approx((11 * 1.0 + 23 * 4.0) / 1e6, rel=0.05)
    baseline = json.loads((pytester.path / ".llmobs" / "baseline.json").read_text())
    [stored] = [s for s in baseline["series"] if s["name"] == span]
    per_test = {case: len(v["latency_ms"]) for case, v in stored["cases"].items()}
    assert len(per_test) == 30
    assert set(per_test.values()) == {3}  # three chat spans in each test

    result, report = run_llmobs()  # A/A: the same answers again
    assert result.ret == 0, result.stdout.str()
    assert checks(report, span)["tokens.output"] == "pass"
    assert checks(report, span)["tokens.input"] == "pass"
    assert checks(report, span)["cost"] == "pass"

    monkeypatch.setenv("OUTPUT_SCALE", "1.5")  # the model got wordier
    result, report = run_llmobs()
    assert result.ret == 1
    found = checks(report, span)
    assert found["tokens.output"] == "regression"
    assert found["cost"] == "regression"  # more output tokens cost more
    assert found["tokens.input"] == "pass"
    result.stdout.fnmatch_lines([f"{span}*tokens.output*REGRESSION"])
