"""``rca serve``: argument errors are one line and exit 1; the options reach the app and server."""

from __future__ import annotations

from application.cli import main
from service import server


def test_bad_port_is_a_usage_error(capsys, tmp_path):
    assert main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 1
    assert "rca serve: error: --port must be in 0..65535" in capsys.readouterr().err


def test_options_reach_the_server(monkeypatch, tmp_path):
    seen = {}

    def fake_serve(app, host, port):
        seen.update(app=app, host=host, port=port)
        app.state.service.close()

    monkeypatch.setattr(server, "serve", fake_serve)
    monkeypatch.setenv("RCA_SERVE_KEYS", "k2,k3")
    assert main(["serve", "--port", "9999", "--data-dir", str(tmp_path), "--key", "k1"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 9999)
    assert seen["app"].state.service.keys == {"k1", "k2", "k3"}
    assert (tmp_path / "service.db").exists()


def test_the_examples_run_against_the_service(server):
    import runpy
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    azure = runpy.run_path(str(examples / "azure_client.py"))["main"](server.url)
    assert azure == [150]
    metis = runpy.run_path(str(examples / "metis_client.py"))["main"](server.url)
    assert metis["normal"]["code"] == 0 and metis["normal"]["data"]["ret"] == 1
    assert metis["spike"]["code"] == 0 and metis["spike"]["data"]["ret"] == 0
