// Connection quality from the two peer connections' `getStats()`: loss, round-trip time and
// jitter, summed up as good / fair / poor. Pure functions (the view polls and draws).

export type Quality = "good" | "fair" | "poor" | "unknown";

/** One entry of an `RTCStatsReport`, as plain data. */
export type StatLike = Record<string, unknown> & { type?: unknown };

export interface QualitySample {
  /** Share of packets lost, 0..1 (null: nothing to measure yet). */
  loss: number | null;
  rttMs: number | null;
  jitterMs: number | null;
}

/** Counters kept between two samples (loss is measured over the interval, not since the start). */
export interface Totals {
  received: number;
  lost: number;
}

// Beyond these, calls become noticeably worse: a few percent loss shows as artefacts and
// choppy audio; past ~300 ms round trip people talk over each other.
export const FAIR = { loss: 0.02, rttMs: 200, jitterMs: 30 };
export const POOR = { loss: 0.08, rttMs: 400, jitterMs: 60 };

export function classify(sample: QualitySample): Quality {
  const { loss, rttMs, jitterMs } = sample;
  if (loss === null && rttMs === null && jitterMs === null) return "unknown";
  const over = (limits: typeof FAIR) =>
    (loss ?? 0) > limits.loss || (rttMs ?? 0) > limits.rttMs || (jitterMs ?? 0) > limits.jitterMs;
  if (over(POOR)) return "poor";
  if (over(FAIR)) return "fair";
  return "good";
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function max(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

/** One sample from the sending and receiving connections' stats, and the totals to pass to the
 * next call. Loss: what this client receives (packets lost over the interval) and what the
 * server reports losing of what this client sends (`remote-inbound-rtp.fractionLost`), the worse
 * of the two. Round trip: the selected ICE candidate pair's, or RTCP's. Jitter: the worst stream. */
export function summarize(
  sending: StatLike[],
  receiving: StatLike[],
  previous: Totals | null,
): { sample: QualitySample; totals: Totals } {
  let rtt: number | null = null;
  let jitter: number | null = null;
  let sentLoss: number | null = null;
  const totals: Totals = { received: 0, lost: 0 };
  let inbound = false;

  for (const stats of [sending, receiving]) {
    // the pair in use: the transport names it (Chrome); else the nominated or selected one
    const inUse = new Set(
      stats.filter((s) => s.type === "transport" && typeof s.selectedCandidatePairId === "string").map((s) => s.selectedCandidatePairId),
    );
    for (const stat of stats) {
      if (stat.type !== "candidate-pair") continue;
      const current = inUse.size > 0 ? inUse.has(stat.id) : stat.nominated === true || stat.selected === true;
      if (current) rtt = max(rtt, num(stat.currentRoundTripTime));
    }
  }
  for (const stat of sending) {
    if (stat.type !== "remote-inbound-rtp") continue;
    sentLoss = max(sentLoss, num(stat.fractionLost));
    rtt = max(rtt, num(stat.roundTripTime));
    jitter = max(jitter, num(stat.jitter));
  }
  for (const stat of receiving) {
    if (stat.type !== "inbound-rtp") continue;
    inbound = true;
    totals.received += num(stat.packetsReceived) ?? 0;
    totals.lost += Math.max(0, num(stat.packetsLost) ?? 0);
    jitter = max(jitter, num(stat.jitter));
  }

  let receivedLoss: number | null = null;
  if (inbound && previous) {
    const received = totals.received - previous.received;
    const lost = totals.lost - previous.lost;
    // a new stream restarts its counters: then this interval says nothing
    if (received >= 0 && lost >= 0 && received + lost > 0) receivedLoss = lost / (received + lost);
  }
  return {
    sample: {
      loss: max(sentLoss, receivedLoss),
      rttMs: rtt === null ? null : rtt * 1000,
      jitterMs: jitter === null ? null : jitter * 1000,
    },
    totals,
  };
}
