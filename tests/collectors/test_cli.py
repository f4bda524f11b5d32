"""`rca collect` end to end; Jaeger is tests/doubles/jaeger_double.py (JaegerDouble), a test double on 127.0.0.1."""

import json

import pandas as pd
import pytest
from jaeger_double import JaegerDouble

from application.cli import main
from application.commands.collect import parse_last
from application.errors import UsageError
from collectors import read_spans
from collectors.jaeger_format import to_jaeger_traces


def test_parse_last():
    assert parse_last("15m") == 900 and parse_last("2h") == 7200 and parse_last("90s") == 90
    with pytest.raises(UsageError, match="--last"):
        parse_last("soon")


def test_collect_jaeger_to_parquet(tmp_path, capsys, sample):
    spans = sample(12)
    out = tmp_path / "spans.parquet"
    start = spans["start_us"].min() / 1e6
    with JaegerDouble(to_jaeger_traces(spans)) as jaeger:
        code = main(
            [
                "collect",
                "jaeger",
                "--url",
                jaeger.url,
                "--start",
                str(start),
                "--end",
                str(start + 60),
                "--limit",
                "5",
                "-o",
                str(out),
            ]
        )
    assert code == 0
    assert f"wrote {len(spans)} spans of 2 services" in capsys.readouterr().out
    assert len(read_spans(out)) == len(spans)


def test_collect_jaeger_errors_are_clean(tmp_path, capsys):
    code = main(["collect", "jaeger", "--url", "http://127.0.0.1:9", "--last", "5m", "-o", str(tmp_path / "x.parquet")])
    assert code == 1
    assert "rca collect: error: http://127.0.0.1:9" in capsys.readouterr().err


def test_collect_files(tmp_path, capsys, sample):
    spans = sample(3)
    (tmp_path / "a.json").write_text(json.dumps({"data": to_jaeger_traces(spans)}))
    out = tmp_path / "out.parquet"
    assert main(["collect", "files", str(tmp_path / "a.json"), "-o", str(out)]) == 0
    again = read_spans(out)
    pd.testing.assert_series_equal(
        again["span_id"].sort_values(ignore_index=True),
        spans["span_id"].sort_values(ignore_index=True),
        check_dtype=False,
    )
