"""Building blocks of the self-contained HTML pages (SPEC §7.7, §10.10): inline CSS, a policy
that forbids every fetch, figures with their exact value, tables of formatted cells."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.reports.fmt import count, esc

CSS = """
:root { --ink:#1a202c; --muted:#4a5568; --line:#e2e8f0; --bad:#c53030; --ok:#2f855a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #f7fafc; }
header { background: #1a365d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #cbd5e0; font-size: 13px; }
main { padding: 12px 28px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: 14px 18px; margin: 14px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: #fff; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .03em; }
.card .fig { display: block; font-size: 20px; font-weight: 600;
  font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
.card .fig.word { font-size: 16px; overflow-wrap: anywhere; }
.card.bad { border-color: var(--bad); background: #fff5f5; }
.flag { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; }
.flag.bad { background: var(--bad); color: #fff; }
.flag.ok { background: #c6f6d5; color: #22543d; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: #edf2f7; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td, th { white-space: nowrap; }
td.wrap { white-space: normal; min-width: 260px; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid var(--line); }
.wide { overflow-x: auto; }
tr.total td { font-weight: 600; border-top: 2px solid #cbd5e0; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 14px; }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
svg.plot { max-width: 100%; height: auto; background: #fff; }
svg.plot text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg.plot text.axis-title { font-size: 12px; fill: var(--muted); }
svg.plot text.v { font-size: 10px; fill: var(--muted); }
svg.plot text.empty { font-size: 13px; fill: var(--muted); }
svg.plot .grid { stroke: #edf2f7; }
svg.plot .zero { stroke: #718096; }
svg.plot .diagonal { stroke: #718096; stroke-dasharray: 4 3; }
.books { display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 14px; }
code { font-size: 12px; }
"""

# The page fetches nothing: every style and image is inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def value_span(fid: str, text: str, value: object, css: str = "") -> str:
    """A figure as shown, with its exact value in `data-value` under the id `fig-<fid>`."""
    cls = f' class="{esc(css)}"' if css else ""
    return f'<span{cls} id="fig-{esc(fid)}" data-value="{esc(value)}">{esc(text)}</span>'


def card(label: str, figure: str, sub: str = "", bad: bool = False) -> str:
    """A headline card; `figure` and `sub` are HTML already escaped by their builders."""
    return (
        f'<div class="card{" bad" if bad else ""}"><span class="label">{esc(label)}</span>'
        f"{figure}" + (f'<span class="sub">{sub}</span>' if sub else "") + "</div>"
    )


def cell(text: str, num: bool, wrap: bool) -> str:
    cls = "num" if num else ("wrap" if wrap else "")
    return f'<td class="{cls}">{esc(text)}</td>' if cls else f"<td>{esc(text)}</td>"


def data_table(
    table_id: str,
    header: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[str]],
    row_class: Sequence[str] | None = None,
    wrap: Sequence[str] = ("Description", "Detail"),
    box: str = "wide",
) -> str:
    """A table from already formatted cells; `header` is (title, is_numeric).

    Cells stay on one line (money must not break); the columns named in `wrap` flow. `box`
    is the CSS class of the container: `wide` scrolls sideways, `scroll` also caps the height.
    """
    head = "".join(
        f'<th class="num">{esc(t)}</th>' if num else f"<th>{esc(t)}</th>" for t, num in header
    )
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_class[i])}"' if row_class and row_class[i] else ""
        cells = "".join(
            cell(c, num, title in wrap) for c, (title, num) in zip(row, header, strict=True)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(header)}" class="note">none</td></tr>')
    return (
        f'<div class="{esc(box)}"><table id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def shown_note(shown: int, total: int, what: str) -> str:
    if shown >= total:
        return f'<p class="note">{count(total)} {esc(what)}.</p>'
    return f'<p class="note">Showing {count(shown)} of {count(total)} {esc(what)}.</p>'
