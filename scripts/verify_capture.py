#!/usr/bin/env python3
"""Independent check of marketpipe's output against a Coinbase or Binance capture.

Recomputes, from the raw frames and with nothing from marketpipe's code, every candle
(open/high/low/close, volume, quote volume, taker buy/sell volumes and counts, first/last
trade id) and every product's final top-N book, then compares them with what a running
`marketpipe serve` returns. Exact decimal arithmetic (Python's decimal module) throughout.

  verify_capture.py --api http://127.0.0.1:8080 capture.jsonl [more.jsonl ...]
      [--intervals 1m,1h,1d] [--depth 10]

Exit status 0 when everything matches, 1 with a list of differences otherwise.
Frames are validated the way the DESIGN requires: anything malformed is skipped whole.
Binance books follow Binance's documented procedure (REST snapshot, drop diffs with
u <= lastUpdateId, the first applied diff straddles lastUpdateId+1, then U = previous u + 1;
a break leaves the book untrusted until the next snapshot); symbols come from exchangeInfo.
"""
import argparse, collections, json, re, subprocess, sys, urllib.parse, urllib.request
from datetime import datetime, timezone
from decimal import Decimal, getcontext

getcontext().prec = 60
DEC = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
PID = re.compile(r"^[A-Za-z0-9]+-[A-Za-z0-9]+$")
TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$")
INTERVALS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
NS = 1_000_000_000
MIN_NS, MAX_NS = 1_230_940_800 * NS, 4_102_444_800 * NS
LIMIT = Decimal(10) ** 15


class Bad(Exception):
    pass


def dec(v, positive=False, nonneg=False):
    if not isinstance(v, str) or not DEC.match(v) or len(v.lstrip("-").replace(".", "").lstrip("0")) > 28:
        raise Bad(f"bad decimal {v!r}")
    d = Decimal(v)
    if positive and d <= 0:
        raise Bad("not positive")
    if nonneg and d < 0:
        raise Bad("negative")
    if abs(d) > LIMIT:
        raise Bad("absurd")
    return d


def ts(v):
    m = TIME.match(v) if isinstance(v, str) else None
    if not m:
        raise Bad(f"bad time {v!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    try:
        base = datetime(int(y), int(mo), int(d), int(h), int(mi), min(int(s), 59), tzinfo=timezone.utc)
    except ValueError:
        raise Bad("time out of range")
    secs = int(base.timestamp()) + (1 if int(s) == 60 else 0)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        secs -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    ns = secs * NS + int(((frac or "") + "000000000")[:9])
    if not MIN_NS <= ns <= MAX_NS:
        raise Bad("implausible time")
    return ns


def read_lines(path):
    if path.endswith(".zst"):
        data = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        yield from data.splitlines()
    else:
        with open(path, "rb") as f:
            yield from f


class Model:
    """Coinbase frames; `self.trades` and `self.books` are keyed by (exchange, product)."""

    ex = "coinbase"

    def __init__(self, trades, books):
        self.trades = trades                  # (exchange, product, trade id) -> (time ns, id, price, size, taker side)
        self.books = books                    # (exchange, product) -> {"bids": {}, "asks": {}, "ok": bool}

    def add_trade(self, pid, tid, rec):
        if not isinstance(tid, int) or isinstance(tid, bool) or tid <= 0:
            raise Bad("bad trade id")
        self.trades.setdefault((self.ex, pid, tid), rec)

    def trade(self, pid, tid, price, size, maker_side, t):
        if not PID.match(pid or ""):
            raise Bad("bad product")
        if maker_side not in ("buy", "sell"):
            raise Bad("bad side")
        rec = (ts(t), tid, dec(price, positive=True), dec(size, positive=True), "buy" if maker_side == "sell" else "sell")
        self.add_trade(pid, tid, rec)

    def frame(self, d):
        if not isinstance(d, dict):
            return
        kind = d.get("type")
        if kind in ("match", "last_match"):
            self.trade(d.get("product_id"), d.get("trade_id"), d.get("price"), d.get("size"), d.get("side"), d.get("time"))
        elif kind == "snapshot":
            pid = d.get("product_id")
            if not isinstance(pid, str) or not PID.match(pid):
                raise Bad("bad product")
            sides = {}
            for name in ("bids", "asks"):
                levels = d.get(name)
                if not isinstance(levels, list):
                    raise Bad("bad levels")
                book = {}
                for lv in levels:
                    if not isinstance(lv, list) or len(lv) < 2:
                        raise Bad("bad level")
                    p, s = dec(lv[0], positive=True), dec(lv[1], nonneg=True)
                    if s > 0:
                        book[p] = (lv[0], lv[1], s)
                    else:
                        book.pop(p, None)
                sides[name] = book
            self.books[(self.ex, pid)] = {"bids": sides["bids"], "asks": sides["asks"], "ok": True}
            self.check(pid)
        elif kind == "l2update":
            pid = d.get("product_id")
            changes = d.get("changes")
            if not isinstance(pid, str) or not PID.match(pid) or not isinstance(changes, list):
                raise Bad("bad l2update")
            parsed = []
            for ch in changes:
                if not isinstance(ch, list) or len(ch) != 3 or ch[0] not in ("buy", "sell"):
                    raise Bad("bad change")
                parsed.append(("bids" if ch[0] == "buy" else "asks", dec(ch[1], positive=True), ch[1], ch[2], dec(ch[2], nonneg=True)))
            if "time" in d:
                ts(d["time"])
            book = self.books.get((self.ex, pid))
            if not book or not book["ok"]:
                return
            for side, p, ps, ss, s in parsed:
                if s == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = (ps, ss, s)
            self.check(pid)

    def check(self, pid):
        b = self.books[(self.ex, pid)]
        if b["bids"] and b["asks"] and max(b["bids"]) >= min(b["asks"]):
            b["ok"] = False  # crossed: untrustworthy until the next snapshot

    def rest(self, url, data):
        path = urllib.parse.urlparse(url).path
        m = re.match(r"^/products/([^/]+)/trades$", path)
        if m and isinstance(data, list):
            for t in data:
                if isinstance(t, dict):
                    try:
                        self.trade(m.group(1), t.get("trade_id"), t.get("price"), t.get("size"), t.get("side"), t.get("time"))
                    except Bad:
                        pass


def levels(raw, positive_sizes=False):
    if not isinstance(raw, list):
        raise Bad("bad levels")
    out = []
    for lv in raw:
        if not isinstance(lv, list) or len(lv) < 2:
            raise Bad("bad level")
        out.append((dec(lv[0], positive=True), lv[0], lv[1], dec(lv[1], nonneg=True)))
    return out


class BinanceModel(Model):
    """Binance combined-stream frames and REST exchangeInfo/depth/aggTrades."""

    ex = "binance"

    def __init__(self, trades, books):
        super().__init__(trades, books)
        self.symbols = {}                     # native symbol -> BASE-QUOTE, from exchangeInfo
        self.last = {}                        # product -> last applied update id (None: next diff must straddle)

    def pid(self, native):
        if native not in self.symbols:
            raise Bad("unknown symbol")
        return self.symbols[native]

    def frame(self, d):
        if isinstance(d, dict) and "stream" in d:
            d = d.get("data")
        if not isinstance(d, dict):
            return
        kind = d.get("e")
        if kind == "aggTrade":
            pid = self.pid(d.get("s"))
            if not isinstance(d.get("m"), bool):
                raise Bad("bad m")
            t = d.get("T")
            if not isinstance(t, int) or isinstance(t, bool) or not MIN_NS <= t * 1_000_000 <= MAX_NS:
                raise Bad("bad time")
            rec = (t * 1_000_000, d.get("a"), dec(d.get("p"), positive=True), dec(d.get("q"), positive=True), "sell" if d["m"] else "buy")
            self.add_trade(pid, d.get("a"), rec)
        elif kind == "depthUpdate":
            pid = self.pid(d.get("s"))
            first, last = d.get("U"), d.get("u")
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in (first, last)) or first > last:
                raise Bad("bad update ids")
            changes = [("bids",) + lv for lv in levels(d.get("b"))] + [("asks",) + lv for lv in levels(d.get("a"))]
            book = self.books.get((self.ex, pid))
            if not book or not book["ok"] or pid not in self.last:
                return
            prev = self.last[pid]
            if last <= prev["id"]:
                return                        # older than the book: dropped
            if prev["first"] and not first <= prev["id"] + 1 <= last or not prev["first"] and first != prev["id"] + 1:
                book["ok"] = False            # sequence broken: untrusted until the next snapshot
                return
            for side, p, ps, ss, sz in changes:
                if sz == 0:
                    book[side].pop(p, None)
                else:
                    book[side][p] = (ps, ss, sz)
            self.last[pid] = {"id": last, "first": False}
            self.check(pid)

    def rest(self, url, data):
        u = urllib.parse.urlparse(url)
        query = urllib.parse.parse_qs(u.query)
        if u.path.endswith("/exchangeInfo") and isinstance(data, dict):
            for sym in data.get("symbols") or []:
                if isinstance(sym, dict) and all(isinstance(sym.get(k), str) for k in ("symbol", "baseAsset", "quoteAsset")):
                    self.symbols[sym["symbol"]] = f"{sym['baseAsset']}-{sym['quoteAsset']}"
        elif u.path.endswith("/depth") and isinstance(data, dict):
            pid = self.pid((query.get("symbol") or [None])[0])
            book = {"bids": {}, "asks": {}, "ok": True}
            for side in ("bids", "asks"):
                for p, ps, ss, sz in levels(data.get(side)):
                    if sz > 0:
                        book[side][p] = (ps, ss, sz)
            if not isinstance(data.get("lastUpdateId"), int):
                raise Bad("bad lastUpdateId")
            self.books[(self.ex, pid)] = book
            self.last[pid] = {"id": data["lastUpdateId"], "first": True}
            self.check(pid)
        elif u.path.endswith("/aggTrades") and isinstance(data, list):
            pid = self.pid((query.get("symbol") or [None])[0])
            for t in data:
                try:
                    self.frame({"e": "aggTrade", "s": query["symbol"][0], **t}) if isinstance(t, dict) else None
                except Bad:
                    pass


def load(paths):
    trades, books = {}, {}
    models = {"coinbase": Model(trades, books), "binance": BinanceModel(trades, books)}
    for path in paths:
        for raw in read_lines(path):
            try:
                r = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if not isinstance(r, dict) or r.get("exchange") not in models or not isinstance(r.get("recv_ns"), int):
                continue
            model = models[r["exchange"]]
            try:
                if r.get("kind") == "ws":
                    model.frame(r.get("data"))
                elif r.get("kind") == "rest" and isinstance(r.get("url"), str):
                    model.rest(r["url"], r.get("data"))
            except Bad:
                continue
    return models["coinbase"]


def expected_candles(model, interval):
    width = INTERVALS[interval] * NS
    out = collections.defaultdict(dict)
    for (ex, pid, _), (t, tid, price, size, taker) in sorted(model.trades.items(), key=lambda kv: (kv[0][:2], kv[1][0], kv[1][1])):
        start = t - t % width
        c = out[(ex, pid)].get(start)
        if c is None:
            c = out[(ex, pid)][start] = {"open": price, "high": price, "low": price, "close": price, "volume": Decimal(0),
                                   "quote_volume": Decimal(0), "buy_volume": Decimal(0), "sell_volume": Decimal(0),
                                   "trades": 0, "buy_trades": 0, "sell_trades": 0, "first_trade_id": tid, "last_trade_id": tid}
        c["high"], c["low"], c["close"], c["last_trade_id"] = max(c["high"], price), min(c["low"], price), price, tid
        c["volume"] += size
        c["quote_volume"] += price * size
        c["trades"] += 1
        c[taker + "_volume"] += size
        c[taker + "_trades"] += 1
    return out


def get(api, path, **params):
    url = api.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def served_candles(api, ex, pid, interval, first):
    got, start = {}, first
    while True:
        page = get(api, "/api/v1/candles", exchange=ex, symbol=pid, interval=interval, start=start // NS, limit=10000)["candles"]
        for c in page:
            got[ts(c["start"])] = c
        if len(page) < 10000:
            return got
        start = ts(page[-1]["start"]) + INTERVALS[interval] * NS


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", required=True)
    ap.add_argument("--intervals", default="1m,1h,1d")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("captures", nargs="+")
    a = ap.parse_args()
    model = load(a.captures)
    problems, checked = [], 0
    fields = ["open", "high", "low", "close", "volume", "quote_volume", "buy_volume", "sell_volume"]
    counts = ["trades", "buy_trades", "sell_trades", "first_trade_id", "last_trade_id"]
    for interval in a.intervals.split(","):
        for (ex, pid), want in sorted(expected_candles(model, interval).items()):
            have = served_candles(a.api, ex, pid, interval, min(want))
            for start in sorted(set(want) | set(have)):
                w, h = want.get(start), have.get(start)
                where = f"{ex} {pid} {interval} {datetime.fromtimestamp(start // NS, timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
                if w is None or h is None:
                    problems.append(f"{where}: {'missing from the API' if h is None else 'served but no trades imply it'}")
                    continue
                checked += 1
                for f in fields:
                    if Decimal(h[f]) != w[f]:
                        problems.append(f"{where}: {f} served {h[f]} expected {w[f]}")
                for f in counts:
                    if h[f] != w[f]:
                        problems.append(f"{where}: {f} served {h[f]} expected {w[f]}")
    books = 0
    for (ex, pid), b in sorted(model.books.items()):
        if not b["ok"]:
            continue
        served = get(a.api, "/api/v1/book", exchange=ex, symbol=pid, depth=a.depth)
        for side, rev in (("bids", True), ("asks", False)):
            want = [(p, v[2]) for p, v in sorted(b[side].items(), reverse=rev)[: a.depth]]
            have = [(Decimal(p), Decimal(s)) for p, s in served[side]]
            if want != have:
                problems.append(f"{ex} {pid} book {side}: served {served[side][:3]}... expected {[[str(p), str(s)] for p, s in want[:3]]}...")
        books += 1
    if problems:
        print(f"MISMATCH: {len(problems)} difference(s)")
        for p in problems[:50]:
            print("  " + p)
        sys.exit(1)
    print(f"OK: {checked} candles and {books} books match an independent computation from {len(model.trades)} trades")


if __name__ == "__main__":
    main()
