import { describe, expect, it } from "vitest";
import { mergeChat, UnreadCounter } from "../src/room/chat";
import { chooseMode, gridLayout, NARROW_PX } from "../src/room/layout";
import type { ChatFrame } from "../src/room/protocol";
import { classify, summarize, type StatLike } from "../src/room/quality";

describe("connection quality", () => {
  it("is good on a clean connection and unknown without data", () => {
    expect(classify({ loss: 0, rttMs: 20, jitterMs: 3 })).toBe("good");
    expect(classify({ loss: null, rttMs: null, jitterMs: null })).toBe("unknown");
    expect(classify({ loss: null, rttMs: 50, jitterMs: null })).toBe("good");
  });

  it("goes fair, then poor, on whichever of loss, round trip and jitter is worst", () => {
    expect(classify({ loss: 0.03, rttMs: 20, jitterMs: 3 })).toBe("fair");
    expect(classify({ loss: 0, rttMs: 250, jitterMs: 3 })).toBe("fair");
    expect(classify({ loss: 0, rttMs: 20, jitterMs: 40 })).toBe("fair");
    expect(classify({ loss: 0.1, rttMs: 20, jitterMs: 3 })).toBe("poor");
    expect(classify({ loss: 0.03, rttMs: 500, jitterMs: 3 })).toBe("poor");
    expect(classify({ loss: 0, rttMs: 20, jitterMs: 80 })).toBe("poor");
    expect(classify({ loss: 0.02, rttMs: 200, jitterMs: 30 })).toBe("good"); // limits are exclusive
  });

  const sending: StatLike[] = [
    { type: "transport", id: "T1", selectedCandidatePairId: "CP2" },
    { type: "candidate-pair", id: "CP1", nominated: false, currentRoundTripTime: 0.9 },
    { type: "candidate-pair", id: "CP2", nominated: true, currentRoundTripTime: 0.012 },
    { type: "remote-inbound-rtp", id: "RI1", fractionLost: 0.01, roundTripTime: 0.015, jitter: 0.004 },
  ];

  it("reads round trip from the pair in use and loss over the interval", () => {
    const receiving = (received: number, lost: number): StatLike[] => [
      { type: "inbound-rtp", id: "I1", packetsReceived: received, packetsLost: lost, jitter: 0.002 },
      { type: "inbound-rtp", id: "I2", packetsReceived: 10, packetsLost: 0, jitter: 0.006 },
    ];
    const first = summarize(sending, receiving(1000, 500), null);
    expect(first.sample).toEqual({ loss: 0.01, rttMs: 15, jitterMs: 6 }); // no interval yet: sender's loss only
    expect(first.totals).toEqual({ received: 1010, lost: 500 });
    const second = summarize(sending, receiving(1090, 510), first.totals);
    expect(second.sample.loss).toBeCloseTo(0.1); // 10 lost of 100 in this interval, not 1/3 overall
    expect(classify(second.sample)).toBe("poor");
  });

  it("ignores an interval where counters restarted and works with no connections", () => {
    const restarted = summarize([], [{ type: "inbound-rtp", packetsReceived: 5, packetsLost: 0 }], {
      received: 900,
      lost: 3,
    });
    expect(restarted.sample.loss).toBeNull();
    expect(summarize([], [], null).sample).toEqual({ loss: null, rttMs: null, jitterMs: null });
  });
});

describe("room layout", () => {
  it("spotlights screen shares", () => {
    expect(chooseMode(0)).toBe("grid");
    expect(chooseMode(1)).toBe("spotlight");
  });

  it("fits tiles as large as the stage allows", () => {
    expect(gridLayout(1, 1000, 600, 4 / 3, 0)).toEqual({ columns: 1, rows: 1, tileWidth: 800 });
    expect(gridLayout(2, 1000, 600, 4 / 3, 0)).toMatchObject({ columns: 2, rows: 1, tileWidth: 500 });
    expect(gridLayout(4, 1000, 600, 4 / 3, 0)).toMatchObject({ columns: 2, rows: 2, tileWidth: 400 });
    const nine = gridLayout(9, 1200, 700);
    expect(nine.columns * nine.rows).toBeGreaterThanOrEqual(9);
    expect(nine.columns).toBe(3);
    // a tall stage puts people under each other
    expect(gridLayout(2, 700, 1200, 4 / 3, 0)).toMatchObject({ columns: 1, rows: 2 });
  });

  it("stacks tiles full width on a phone", () => {
    const phone = NARROW_PX - 250;
    expect(gridLayout(3, phone, 700, 4 / 3, 8)).toEqual({ columns: 1, rows: 3, tileWidth: phone });
    expect(gridLayout(6, phone, 700, 4 / 3, 8)).toMatchObject({ columns: 2, rows: 3 });
  });
});

describe("chat", () => {
  const message = (id: string, at: string, sender = "u1"): ChatFrame => ({
    type: "chat",
    id,
    sender: { user_id: sender, display_name: sender },
    body: id,
    created_at: at,
  });

  it("merges history and live messages once each, oldest first", () => {
    const live = [message("c", "2025-01-01T10:02:00Z"), message("b", "2025-01-01T10:01:00+00:00")];
    const history = [message("a", "2025-01-01T10:00:00Z"), message("b", "2025-01-01T10:01:00Z")];
    expect(mergeChat(live, history).map((m) => m.id)).toEqual(["a", "b", "c"]);
  });

  it("counts unread messages from others while closed and clears on opening", () => {
    const unread = new UnreadCounter(false);
    unread.received(false);
    unread.received(true); // one's own message is never unread
    unread.received(false);
    expect(unread.count).toBe(2);
    unread.setOpen(true);
    expect(unread.count).toBe(0);
    unread.received(false); // read as it arrives
    expect(unread.count).toBe(0);
    unread.setOpen(false);
    unread.received(false);
    expect(unread.count).toBe(1);
  });
});
