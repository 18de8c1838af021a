#!/usr/bin/env python3
"""Writes samples/coinbase-sample.jsonl: a small, deterministic Coinbase Exchange capture.

Frames follow the public ws-feed protocol (https://docs.cdp.coinbase.com/exchange/docs/websocket-channels)
and REST API as a real session records them: the /products list, a websocket subscribe to
level2_batch, matches, ticker and heartbeat, the subscriptions ack, a snapshot per product,
last_match, then about six minutes of l2update batches, matches with their tickers, and per-product
heartbeats. It also holds what a real session runs into, so the sample exercises the pipeline:

  * a match delivered twice (reconnect overlap) -> counted once
  * a match delivered out of order within the allowed lateness -> same candle as in order
  * a disconnect, reconnect with a fresh snapshot, and a REST /products/{id}/trades response
    that backfills the trades missed meanwhile; some land in an already final minute -> revision 1
  * malformed input: a line that is not a record, a frame that is not JSON, a match with a NaN
    price, an l2update with a negative size, an unknown message type, an exchange error frame

Run: python3 samples/make_coinbase_sample.py  (rewrites the file; output is byte-for-byte stable)
"""
import json, os, random
from datetime import datetime, timezone

rng = random.Random(20260302)
T0 = 1_772_461_770_000_000_000  # 2026-03-02T14:29:30Z
WS = "wss://ws-feed.exchange.coinbase.com"
REST = "https://api.exchange.coinbase.com"
out_lines = []


def iso(ns):
    s, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac // 1000:06d}Z"


def rec(ns, kind, conn=None, url=None, data=None, raw=None):
    r = f'{{"recv_ns":{ns},"exchange":"coinbase","kind":"{kind}"'
    if conn is not None:
        r += f',"conn":{conn}'
    if url is not None:
        r += ',"url":' + json.dumps(url)
    if raw is not None:
        r += ',"data":' + raw
    elif data is not None:
        r += ',"data":' + json.dumps(data, separators=(",", ":"))
    out_lines.append(r + "}")


class Book:
    def __init__(self, pid, mid, tick, qdp, trade_id, seq):
        self.pid, self.tick, self.qdp = pid, tick, qdp
        self.mid = int(mid / tick)
        self.bids = {self.mid - i: self.q() for i in range(1, 31)}
        self.asks = {self.mid + i: self.q() for i in range(1, 31)}
        self.trade_id, self.seq = trade_id, seq
        # the trade before the capture starts, which the first last_match repeats
        self.last = {"type": "match", "trade_id": trade_id, "maker_order_id": f"{rng.getrandbits(128):032x}",
                     "taker_order_id": f"{rng.getrandbits(128):032x}", "side": "buy", "size": self.sz(self.q()),
                     "price": self.px(self.mid - 1), "product_id": pid, "sequence": seq, "time": iso(T0 - 2_310_000_000)}

    def q(self):
        return max(1, int(rng.lognormvariate(0, 1.1) * 10 ** self.qdp * 0.05))  # integer units of 10^-qdp

    def px(self, t):
        dp = len(str(self.tick).split(".")[1]) if "." in str(self.tick) else 0
        return f"{t * self.tick:.{dp}f}"

    def sz(self, u):
        return f"{u / 10 ** self.qdp:.{self.qdp}f}"

    def levels(self, side):
        items = sorted(side.items(), reverse=side is self.bids)
        return [[self.px(t), self.sz(u)] for t, u in items]

    def step(self):
        """A few level changes that keep the book uncrossed; returns l2update changes."""
        changes = []
        self.mid += rng.choice((-1, 0, 0, 1))
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                t = self.mid - 1 - int(rng.expovariate(0.3))
                if t >= min(self.asks):
                    continue
                if t in self.bids and rng.random() < 0.3 and len(self.bids) > 5:
                    del self.bids[t]
                    changes.append(["buy", self.px(t), self.sz(0)])
                else:
                    self.bids[t] = self.q()
                    changes.append(["buy", self.px(t), self.sz(self.bids[t])])
            else:
                t = self.mid + 1 + int(rng.expovariate(0.3))
                if t <= max(self.bids):
                    continue
                if t in self.asks and rng.random() < 0.3 and len(self.asks) > 5:
                    del self.asks[t]
                    changes.append(["sell", self.px(t), self.sz(0)])
                else:
                    self.asks[t] = self.q()
                    changes.append(["sell", self.px(t), self.sz(self.asks[t])])
        return changes

    def trade(self, ns):
        """A taker order at the touch; returns (match, ticker, l2update change)."""
        self.trade_id += 1
        taker_buys = rng.random() < 0.5
        side = self.asks if taker_buys else self.bids
        t = min(side) if taker_buys else max(side)
        take = min(side[t], self.q())
        side[t] -= take
        maker_side = "sell" if taker_buys else "buy"
        change = [maker_side, self.px(t), self.sz(side[t])]
        if side[t] == 0:
            del side[t]
            if len(side) < 3:  # refill the far side of the book
                far = (max(side) + 1) if taker_buys else (min(side) - 1)
                side[far] = self.q()
        self.seq += 2
        m = {"type": "match", "trade_id": self.trade_id, "maker_order_id": f"{rng.getrandbits(128):032x}",
             "taker_order_id": f"{rng.getrandbits(128):032x}", "side": maker_side, "size": self.sz(take),
             "price": self.px(t), "product_id": self.pid, "sequence": self.seq - 1, "time": iso(ns)}
        self.last = m
        bb, ba = max(self.bids), min(self.asks)
        tick = {"type": "ticker", "sequence": self.seq, "product_id": self.pid, "price": self.px(t),
                "open_24h": self.px(self.mid - 40), "volume_24h": "12345.67890000", "low_24h": self.px(self.mid - 90),
                "high_24h": self.px(self.mid + 75), "volume_30d": "401234.12345678", "best_bid": self.px(bb),
                "best_bid_size": self.sz(self.bids[bb]), "best_ask": self.px(ba), "best_ask_size": self.sz(self.asks[ba]),
                "side": "buy" if taker_buys else "sell", "time": iso(ns), "trade_id": self.trade_id, "last_size": self.sz(take)}
        return m, tick, change


books = {"BTC-USD": Book("BTC-USD", 67012.37, 0.01, 8, 612_004_310, 98_120_443_001),
         "ETH-USD": Book("ETH-USD", 3521.64, 0.01, 8, 501_330_118, 54_001_993_412)}
PRODUCTS = [
    ("BTC-USD", "BTC", "USD", "0.01", "0.00000001", "1"),
    ("ETH-USD", "ETH", "USD", "0.01", "0.00000001", "1"),
    ("SOL-USD", "SOL", "USD", "0.01", "0.00000001", "1"),
]
products = [{"id": p, "base_currency": b, "quote_currency": q, "quote_increment": qi, "base_increment": bi,
             "display_name": p.replace("-", "/"), "min_market_funds": mf, "margin_enabled": False, "post_only": False,
             "limit_only": False, "cancel_only": False, "status": "online", "status_message": "",
             "trading_disabled": False, "fx_stablecoin": False, "max_slippage_percentage": "0.02000000",
             "auction_mode": False, "high_bid_limit_percentage": ""} for p, b, q, qi, bi, mf in PRODUCTS]
CHANNELS = ["level2_batch", "matches", "ticker", "heartbeat"]
PIDS = list(books)


def connect(ns, conn):
    rec(ns, "open", conn=conn, url=WS)
    rec(ns + 150_000, "ws_out", conn=conn, data={"type": "subscribe", "product_ids": PIDS, "channels": CHANNELS})
    ns += 41_000_000
    rec(ns, "ws", conn=conn, data={"type": "subscriptions", "channels": [{"name": c, "product_ids": PIDS, "account_ids": None} for c in CHANNELS]})
    for pid, b in books.items():
        ns += 3_000_000
        rec(ns, "ws", conn=conn, data={"type": "snapshot", "product_id": pid, "bids": b.levels(b.bids), "asks": b.levels(b.asks)})
    for pid, b in books.items():
        ns += 200_000
        rec(ns, "ws", conn=conn, data=dict(b.last, type="last_match"))  # the latest trade, delivered again
    return ns


rec(T0 - 400_000_000, "rest", url=f"{REST}/products", data=products)
now = connect(T0, 1)
conn = 1
last_hb = {p: now for p in PIDS}
held = None          # an out-of-order match waiting to be delivered
missed = {p: [] for p in PIDS}  # matches during the disconnect, for the REST backfill
END = T0 + 6 * 60 * 1_000_000_000
# 14:31:57 .. 14:32:09: the backfilled trades before 14:32 land in a minute that is final by then
DROP_AT, BACK_AT = T0 + 147_000_000_000, T0 + 159_000_000_000
dropped = False
specials = {"dup": T0 + 45e9, "ooo": T0 + 95e9, "nan": T0 + 120e9, "neg": T0 + 130e9, "unknown": T0 + 200e9,
            "notjson": T0 + 210e9, "garbage": T0 + 220e9, "error": T0 + 230e9}
done = set()

while now < END:
    now += int(rng.expovariate(1 / 180_000_000)) + 1
    if DROP_AT <= now < BACK_AT:
        if not dropped:
            rec(DROP_AT, "close", conn=conn)
            dropped = True
        # the market goes on without us: trades we must backfill later
        pid = rng.choice(PIDS)
        b = books[pid]
        if rng.random() < 0.4:
            m, _, _ = b.trade(now)
            missed[pid].append(m)
        else:
            b.step()
        continue
    if dropped:
        conn += 1
        now = connect(BACK_AT, conn)
        dropped = False
        for pid in PIDS:
            trades = [{"time": m["time"], "trade_id": m["trade_id"], "price": m["price"], "size": m["size"], "side": m["side"]}
                      for m in reversed(missed[pid])]  # REST lists newest first
            now += 35_000_000
            rec(now, "rest", url=f"{REST}/products/{pid}/trades?limit=100", data=trades)
        continue
    for p in PIDS:
        if now - last_hb[p] >= 1_000_000_000:
            last_hb[p] = now
            b = books[p]
            rec(now, "ws", conn=conn, data={"type": "heartbeat", "last_trade_id": b.trade_id, "product_id": p, "sequence": b.seq, "time": iso(now - 800_000)})
    pid = rng.choice(PIDS)
    b = books[pid]
    if held and now - held[0] > 1_500_000_000:
        rec(now, "ws", conn=conn, data=held[1])
        held = None
    if rng.random() < 0.7:
        ch = b.step()
        if ch:
            rec(now, "ws", conn=conn, data={"type": "l2update", "product_id": pid, "changes": ch, "time": iso(now - 1_200_000)})
        continue
    ev = now - 900_000
    m, tick, change = b.trade(ev)
    if "ooo" not in done and now >= specials["ooo"]:
        done.add("ooo")
        held = (now, m)  # delivered ~1.5 s late, after newer trades
    else:
        rec(now, "ws", conn=conn, data=m)
    if "dup" not in done and now >= specials["dup"]:
        done.add("dup")
        rec(now + 1000, "ws", conn=conn, data=m)
    rec(now + 2000, "ws", conn=conn, data=tick)
    rec(now + 3000, "ws", conn=conn, data={"type": "l2update", "product_id": pid, "changes": [change], "time": iso(ev)})
    for name in ("nan", "neg", "unknown", "notjson", "garbage", "error"):
        if name not in done and now >= specials[name]:
            done.add(name)
            t = now + 4000
            if name == "nan":
                bad = dict(m, trade_id=m["trade_id"] + 10_000_000, price="NaN")
                rec(t, "ws", conn=conn, data=bad)
            elif name == "neg":
                rec(t, "ws", conn=conn, data={"type": "l2update", "product_id": pid, "changes": [["buy", b.px(b.mid - 3), "-1.00000000"]], "time": iso(ev)})
            elif name == "unknown":
                rec(t, "ws", conn=conn, data={"type": "status", "products": [], "currencies": []})
            elif name == "notjson":
                rec(t, "ws", conn=conn, data='{"type":"match","trade_id":1,"pri')  # stored as a JSON string: the frame was cut off
            elif name == "garbage":
                out_lines.append('\x00\x01 this line is not a capture record }{')
            elif name == "error":
                rec(t, "ws", conn=conn, data={"type": "error", "message": "Failed to subscribe", "reason": "DOGE-BTC is not a valid product"})

# No closing record: the capture is cut while connected, as an hourly archive
# segment is, so the books it leaves are live.
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "coinbase-sample.jsonl")
with open(path, "w") as f:
    f.write("\n".join(out_lines) + "\n")
print(f"wrote {len(out_lines)} records to {path}")
