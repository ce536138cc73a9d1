// Where tiles go: a grid sized to fit the stage, or a spotlight (screen shares big, people in a
// strip) while someone shares a screen. Pure functions (the view measures and applies).

export type Mode = "grid" | "spotlight";

/** Below this stage width the room is laid out for a phone: tiles stack and scroll. */
export const NARROW_PX = 640;

export function chooseMode(screenShares: number): Mode {
  return screenShares > 0 ? "spotlight" : "grid";
}

export interface Grid {
  columns: number;
  rows: number;
  /** Tile width in pixels (its height follows the aspect ratio). */
  tileWidth: number;
}

/** The grid of `count` tiles of `aspect` (width / height) that makes them biggest within
 * `width` x `height`, `gap` pixels apart. On a narrow stage tiles stack (one column, two when
 * there are many) at full width and the stage scrolls. */
export function gridLayout(count: number, width: number, height: number, aspect = 4 / 3, gap = 8): Grid {
  const n = Math.max(1, count);
  if (width < NARROW_PX) {
    const columns = n > 3 ? 2 : 1;
    return { columns, rows: Math.ceil(n / columns), tileWidth: Math.floor((width - gap * (columns - 1)) / columns) };
  }
  let best: Grid = { columns: 1, rows: n, tileWidth: 0 };
  for (let columns = 1; columns <= n; columns++) {
    const rows = Math.ceil(n / columns);
    const byWidth = (width - gap * (columns - 1)) / columns;
    const byHeight = ((height - gap * (rows - 1)) / rows) * aspect;
    const tileWidth = Math.floor(Math.max(0, Math.min(byWidth, byHeight)));
    if (tileWidth > best.tileWidth) best = { columns, rows, tileWidth };
  }
  return best;
}
