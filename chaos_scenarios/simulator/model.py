"""The Online-Boutique model: services, pods, page handlers and their call trees.

Call structure, gRPC method names and span naming follow Online-Boutique's source
(GoogleCloudPlatform/microservices-demo): the Go frontend's handlers (``handlers.go``),
checkoutservice's ``PlaceOrder``, recommendationservice's ``ListRecommendations`` and the
load generator's ``locustfile.py`` (task weights, 1-10 s waits). Span names depend on the
tracing library of each language: Go ``hipstershop.X/M``, Node.js ``grpc.hipstershop.X/M``,
Python ``/hipstershop.X/M``; cartservice (C#), shippingservice and adservice (Java) emit no
server spans in this model, as the brief for the lab describes.

Timing parameters (lognormal medians/sigmas, client overheads) are *model choices* set by
hand from the quiet minutes of the recorded day ``online-boutique-2022-08-22`` (an augmented
deployment); see ``docs/simulator.md`` for the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GO, NODE, PYTHON, CSHARP, JAVA, REDIS = "go", "node", "python", "csharp", "java", "redis"


@dataclass(frozen=True)
class Service:
    """One Deployment: how it traces, how much it can do at once, its limits and restart time."""

    name: str
    language: str
    rpc_service: str  # gRPC service name, e.g. hipstershop.CartService ('' for non-gRPC)
    emits_server_spans: bool
    emits_client_spans: bool
    workers: int  # requests served in parallel by one pod (queueing model)
    cpu_limit: float  # cores (upstream kubernetes-manifests limits)
    memory_limit_mb: float
    memory_base_mb: float  # resident memory in normal operation (model assumption)
    restart_s: float  # time from container start to ready (model assumption)
    client_overhead_ms: tuple[float, float] = (0.5, 0.4)  # lognormal (median ms, sigma) per outgoing call
    throttle_prob: float = 0.005  # share of calls stalled by CFS quota throttling (model assumption)


SERVICES: dict[str, Service] = {
    s.name: s
    for s in (
        Service("frontend", GO, "", True, True, 4, 0.2, 128, 40, 10, (3.5, 0.9), 0.06),
        Service("checkoutservice", GO, "hipstershop.CheckoutService", True, True, 4, 0.2, 128, 30, 8, (6.5, 0.4), 0.05),
        Service(
            "productcatalogservice",
            GO,
            "hipstershop.ProductCatalogService",
            True,
            True,
            4,
            0.2,
            128,
            30,
            8,
            throttle_prob=0.02,
        ),
        Service(
            "currencyservice", NODE, "hipstershop.CurrencyService", True, True, 1, 0.2, 128, 60, 10, throttle_prob=0.015
        ),
        Service("paymentservice", NODE, "hipstershop.PaymentService", True, True, 1, 0.2, 128, 55, 10),
        Service("emailservice", PYTHON, "hipstershop.EmailService", True, True, 1, 0.2, 128, 50, 12),
        Service(
            "recommendationservice",
            PYTHON,
            "hipstershop.RecommendationService",
            True,
            True,
            1,
            0.2,
            450,
            70,
            12,
            (2.8, 0.5),
            0.02,
        ),
        Service("cartservice", CSHARP, "hipstershop.CartService", False, False, 2, 0.3, 128, 60, 15),
        Service("shippingservice", GO, "hipstershop.ShippingService", False, False, 4, 0.2, 128, 25, 8),
        Service("adservice", JAVA, "hipstershop.AdService", False, False, 2, 0.3, 300, 180, 30),
        Service("redis-cart", REDIS, "", False, False, 1, 0.125, 256, 30, 5),
    )
}

# Own work per operation (callee, method): lognormal (median ms, sigma). Children's time is extra.
SERVICE_TIME_MS: dict[tuple[str, str], tuple[float, float]] = {
    ("frontend", "GET /"): (2.0, 0.6),
    ("frontend", "POST /setCurrency"): (0.4, 0.4),
    ("frontend", "GET /product/{id}"): (1.5, 0.6),
    ("frontend", "POST /cart"): (0.6, 0.5),
    ("frontend", "GET /cart"): (1.5, 0.6),
    ("frontend", "POST /cart/checkout"): (1.5, 0.6),
    ("checkoutservice", "PlaceOrder"): (60.0, 0.6),
    ("productcatalogservice", "GetProduct"): (4.8, 0.64),
    ("productcatalogservice", "ListProducts"): (6.3, 0.7),
    ("currencyservice", "GetSupportedCurrencies"): (0.27, 0.25),
    ("currencyservice", "Convert"): (1.05, 0.45),
    ("paymentservice", "Charge"): (0.25, 0.2),
    ("emailservice", "SendOrderConfirmation"): (0.5, 0.2),
    ("recommendationservice", "ListRecommendations"): (0.6, 0.4),
    ("cartservice", "GetCart"): (0.6, 0.4),
    ("cartservice", "AddItem"): (1.2, 0.4),
    ("cartservice", "EmptyCart"): (0.6, 0.4),
    ("shippingservice", "GetQuote"): (0.42, 0.3),
    ("shippingservice", "ShipOrder"): (0.16, 0.25),
    ("adservice", "GetAds"): (12.0, 0.8),
    ("redis-cart", "HGET"): (0.25, 0.3),
    ("redis-cart", "HSET"): (0.3, 0.3),
    ("redis-cart", "DEL"): (0.25, 0.3),
}
TAIL_PROBABILITY = 0.01  # share of calls hit by a hiccup (GC, scheduling)
TAIL_MS = (20.0, 0.8)  # lognormal (median ms, sigma) length of a hiccup
THROTTLE_PERIOD_S = 0.1  # CFS period: a throttled call stalls up to the end of it
NETWORK_LEG_MS = (0.12, 0.3)  # one direction of one call inside the cluster
PRE_CALL_SHARE = 0.3  # share of own work done before the first outgoing call
RPC_TIMEOUT_S = 5.0  # client deadline on every RPC (model choice; upstream sets none except ad)
AD_TIMEOUT_S = 0.1  # frontend -> adservice deadline (upstream: 100 ms)
RETRIES = 1  # transparent retries of UNAVAILABLE calls on another pick of replica
CONNECT_FAIL_MS = (1.0, 0.5)  # how long a refused connection takes to fail
TCP_RTO_S = 0.2  # first TCP retransmission timeout (Linux minimum), doubles per loss


def server_operation(service: str, method: str) -> str:
    """Span name a service's server instrumentation gives an incoming call."""
    svc = SERVICES[service]
    if svc.language == GO:
        return f"{svc.rpc_service}/{method}" if svc.rpc_service else method
    if svc.language == NODE:
        return f"grpc.{svc.rpc_service}/{method}"
    if svc.language == PYTHON:
        return f"/{svc.rpc_service}/{method}"
    return f"{svc.rpc_service}/{method}" if svc.rpc_service else method


def client_operation(caller: str, callee: str, method: str) -> str:
    """Span name a caller's client instrumentation gives an outgoing call."""
    target = SERVICES[callee].rpc_service
    if SERVICES[caller].language == PYTHON:
        return f"/{target}/{method}"
    return f"{target}/{method}"


@dataclass
class Call:
    """One call in a page's call tree; ``repeat`` names the count variable that unrolls it."""

    callee: str
    method: str
    children: list[Call] = field(default_factory=list)
    repeat: str | None = None
    repeat_max: int = 1
    ignore_errors: bool = False
    timeout_s: float | None = RPC_TIMEOUT_S
    new_trace: bool = False


def _cart(method: str, redis_op: str, **kw) -> Call:
    return Call("cartservice", method, [Call("redis-cart", redis_op, timeout_s=None)], **kw)


def _currencies() -> Call:
    return Call("currencyservice", "GetSupportedCurrencies")


def _convert(repeat: str | None = None, n: int = 1, new_trace: bool = False) -> Call:
    return Call("currencyservice", "Convert", repeat=repeat, repeat_max=n, new_trace=new_trace)


def _product(repeat: str | None = None, n: int = 1) -> Call:
    return Call("productcatalogservice", "GetProduct", repeat=repeat, repeat_max=n)


def _recommendations() -> Call:
    return Call("recommendationservice", "ListRecommendations", [Call("productcatalogservice", "ListProducts")])


def _ad() -> Call:
    return Call("adservice", "GetAds", ignore_errors=True, timeout_s=AD_TIMEOUT_S)


MAX_CART_ITEMS = 5
CATALOG_SIZE = 9
RECOMMENDATIONS_SHOWN = 4


def _place_order() -> Call:
    """checkoutservice.PlaceOrder: prepare items and shipping, charge, ship, empty cart, email."""
    return Call(
        "checkoutservice",
        "PlaceOrder",
        [
            _cart("GetCart", "HGET"),
            _product("items", MAX_CART_ITEMS),
            _convert("items", MAX_CART_ITEMS, new_trace=True),
            Call("shippingservice", "GetQuote"),
            _convert(new_trace=True),
            Call("paymentservice", "Charge"),
            Call("shippingservice", "ShipOrder"),
            _cart("EmptyCart", "DEL", ignore_errors=True),
            Call("emailservice", "SendOrderConfirmation", ignore_errors=True),
        ],
    )


@dataclass
class Page:
    """One HTTP request the load generator makes (one trace)."""

    name: str
    method: str
    path: str
    root: Call
    ok_status: int = 200


def pages() -> dict[str, Page]:
    """The frontend handlers the load generator reaches, as call trees."""

    def root(op: str, children: list[Call]) -> Call:
        return Call("frontend", op, children, timeout_s=None)

    return {
        p.name: p
        for p in (
            Page(
                "index",
                "GET",
                "/",
                root(
                    "GET /",
                    [
                        _currencies(),
                        Call("productcatalogservice", "ListProducts"),
                        _cart("GetCart", "HGET"),
                        _convert("products", CATALOG_SIZE),
                        _ad(),
                    ],
                ),
            ),
            Page("setCurrency", "POST", "/setCurrency", root("POST /setCurrency", []), ok_status=302),
            Page(
                "browseProduct",
                "GET",
                "/product/{id}",
                root(
                    "GET /product/{id}",
                    [
                        _product(),
                        _currencies(),
                        _cart("GetCart", "HGET"),
                        _convert(),
                        _recommendations(),
                        _product("recs", RECOMMENDATIONS_SHOWN),
                        _ad(),
                    ],
                ),
            ),
            Page(
                "addToCart", "POST", "/cart", root("POST /cart", [_product(), _cart("AddItem", "HSET")]), ok_status=302
            ),
            Page(
                "viewCart",
                "GET",
                "/cart",
                root(
                    "GET /cart",
                    [
                        _currencies(),
                        _cart("GetCart", "HGET"),
                        _recommendations(),
                        Call("shippingservice", "GetQuote"),
                        _convert(),
                        _product("items", MAX_CART_ITEMS),
                        _convert("items", MAX_CART_ITEMS),
                    ],
                ),
            ),
            Page(
                "checkout",
                "POST",
                "/cart/checkout",
                root("POST /cart/checkout", [_place_order(), _recommendations(), _currencies()]),
            ),
        )
    }


# locustfile.py task weights; each task expands into the page requests it makes (redirects followed).
TASKS: dict[str, tuple[int, tuple[str, ...]]] = {
    "index": (1, ("index",)),
    "setCurrency": (2, ("setCurrency", "index")),
    "browseProduct": (10, ("browseProduct",)),
    "addToCart": (2, ("addToCart", "viewCart")),
    "viewCart": (3, ("viewCart",)),
    "checkout": (1, ("addToCart", "viewCart", "checkout")),
}
THINK_TIME_S = (1.0, 10.0)  # locust wait_time = between(1, 10)
