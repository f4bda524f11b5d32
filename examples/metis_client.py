"""A former Tencent Metis user's request, sent to `rca serve` (docs/service.md).

Run `rca serve` (port 8765), then `python examples/metis_client.py [URL]`. The body is the one of
Metis' API guide (window 180: dataC and dataB 361 values, dataA 181), the answer Metis' envelope.
"""

from __future__ import annotations

import math
import sys

import requests


def window(n: int, phase: int = 0) -> str:
    return ",".join(str(round(100 + 10 * math.sin(2 * math.pi * (i + phase) / 360), 2)) for i in range(n))


def main(url: str = "http://127.0.0.1:8765") -> dict:
    """PredictValue on a normal point, then on a point 3 times too high."""
    body = {
        "viewId": "2012",
        "viewName": "登陆功能",
        "attrId": "19201",
        "attrName": "ptlogin登陆请求总量",
        "window": 180,
        "time": "2018-10-17 17:28:00",
        "dataC": window(361),
        "dataB": window(361),
        "dataA": window(181, 180),
    }
    normal = requests.post(f"{url}/PredictValue", json=body, timeout=60).json()
    body["dataA"] = body["dataA"].rsplit(",", 1)[0] + ",300"
    spike = requests.post(f"{url}/PredictValue", json=body, timeout=60).json()
    print("normal:", normal, "\nspike: ", spike)
    return {"normal": normal, "spike": spike}


if __name__ == "__main__":
    main(*sys.argv[1:2])
