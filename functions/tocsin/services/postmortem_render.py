"""The postmortem document (domain/postmortem.py) as Markdown, self-contained HTML and JSON,
with its phase chart as SVG.

Rendering is a pure function of the document and the templates: equal inputs give equal
bytes. Templates are Jinja2 (sandboxed: a team's template is configuration, not code) under
`templates/postmortem/`; a team overrides any of them with a file of the same name in
`<config>/postmortem/<team>/` (or for every team in `<config>/postmortem/`).

Nothing written in chat can act as markup:
- Markdown: every `{{ value }}` is escaped for Markdown *and* HTML unless the template marks
  it as ours (`Markup`): `<`, `>` and `&` become entities and Markdown punctuation is
  backslash-escaped, so a message can neither open a tag nor make a link, image, heading or
  table cell. Code blocks go in fences longer than any backtick run they contain. Links kept
  are http(s) only, as autolinks.
- HTML: Jinja2 autoescape; no JavaScript at all; a CSP meta tag allows only the page's own
  stylesheet (by hash) and `data:` images (ours, embedded from the artifact bucket), so
  nothing is fetched from anywhere. Team sections are Markdown rendered with raw HTML off.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from tocsin.domain.postmortem import human_duration

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "postmortem"
MD_TEMPLATE = "postmortem.md.j2"
HTML_TEMPLATE = "postmortem.html.j2"
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>:@$=^])")


def md_escape(value: Any) -> str:
    """Text that renders as itself in GitHub-flavoured Markdown, on one line."""
    if value is None:
        return ""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    return "<br>".join(text.splitlines())


def _md_finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else md_escape(value)


def code_fence(code: str, info: str = "") -> Markup:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}{info}\n{code}\n{fence}")


def md_autolink(url: str) -> Markup:
    """An http(s) URL as an autolink (the URL pattern admits no space, `<` or `>`)."""
    if not re.fullmatch(r"https?://[^\s<>]+", url or "", re.IGNORECASE):
        return Markup(md_escape(url))
    return Markup(f"<{url}>")


_TAG_START = re.compile(r"<(?!https?://[^\s<>]+>)", re.IGNORECASE)


def md_quote(text: str) -> Markup:
    """Team-written Markdown, kept as written (it is theirs) except raw HTML: every `<` but
    an autolink's becomes `&lt;`, so no renderer runs a tag and nothing closes our markers."""
    return Markup(_TAG_START.sub("&lt;", text.strip()))


# --- the phase chart ---------------------------------------------------------------------------

_PHASES = (
    ("detect", "Detect", "#8da0cb", ""),
    ("acknowledge", "Acknowledge", "#fc8d62", "4 2"),
    ("mitigate", "Mitigate", "#66c2a5", "1 2"),
    ("resolve", "Resolve", "#a6d854", ""),
)


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def phase_chart(document: dict[str, Any], width: int = 900) -> Markup:
    """Detect → acknowledge → mitigate → resolve as labelled bars on a time axis, with pages
    (▲) and key events (numbered ●) under it. Text labels and dash patterns say what the
    colours say. No script, no external reference; deterministic."""
    d = document["durations"]
    incident = document["incident"]
    opened = _t(incident["opened_at"])
    assert opened is not None
    times = {k: _t(v) for k, v in incident["status_times"].items()}
    start = _t(d["detect"]["from"]) or opened
    phases: list[tuple[str, str, str, str, datetime, datetime]] = []
    previous = opened
    if start < opened:
        phases.append((*_PHASES[0], start, opened))
    for (key, label, colour, dash), status in zip(
        _PHASES[1:], ("acknowledged", "mitigated", "resolved"), strict=True
    ):
        at = times.get(status)
        if at is None or at < previous:
            continue
        phases.append((key, label, colour, dash, previous, at))
        previous = at
    marks = [
        (_t(p["at"]), "page") for p in document["paging"] if p["kind"] in ("page_sent", "escalated")
    ]
    keys = [(_t(k["at"]), k["text"]) for k in document["key_moments"]["key_events"]]
    keys += [(_t(k["at"]), k["text"]) for k in document["key_moments"]["decisions"]]
    keys.sort(key=lambda k: str(k[0]))
    all_times = [start, previous, *[m[0] for m in marks if m[0]], *[k[0] for k in keys if k[0]]]
    end = max(t for t in all_times if t is not None)
    span = max((end - start).total_seconds(), 60.0)
    left, right = 120, width - 20

    def x(at: datetime) -> float:
        return round(left + (right - left) * (at - start).total_seconds() / span, 1)

    rows = []
    for n, (_key, label, colour, dash, a, b) in enumerate(phases):
        y = 30 + n * 28
        w = max(x(b) - x(a), 2.0)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        seconds = (b - a).total_seconds()
        rows.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{x(a)}" y="{y}" width="{round(w, 1)}" height="20" fill="{colour}"'
            f' stroke="#333"{dash_attr}><title>{escape(label)}: '
            f"{escape(human_duration(seconds))}</title></rect>"
            + (
                f'<text x="{round(x(a) + w + 4, 1)}" y="{y + 14}" font-size="11">'
                if x(a) + w + 70 < width
                else f'<text x="{round(x(a) + w - 4, 1)}" y="{y + 14}" font-size="11" '
                'text-anchor="end">'  # no room after the bar: inside its end
            )
            + f"{escape(human_duration(seconds))}</text>"
        )
    axis_y = 30 + max(len(phases), 1) * 28 + 10
    ticks = []
    for i in range(5):
        tx = round(left + (right - left) * i / 4, 1)
        label = (start + (end - start) * (i / 4)).strftime("%H:%M")
        ticks.append(
            f'<line x1="{tx}" y1="{axis_y}" x2="{tx}" y2="{axis_y + 5}" stroke="#333"/>'
            f'<text x="{tx}" y="{axis_y + 18}" text-anchor="middle" font-size="11">'
            f"{label}</text>"
        )
    pins = []
    for at, _ in marks:
        if at is None:
            continue
        px = x(at)
        pins.append(
            f'<path d="M{px} {axis_y + 24} l-5 9 h10 z" fill="#d62728"><title>page at '
            f"{at:%H:%M:%S}</title></path>"
        )
    for n, (at, text) in enumerate(keys, 1):
        if at is None:
            continue
        kx = x(at)
        pins.append(
            f'<circle cx="{kx}" cy="{axis_y + 46}" r="8" fill="#fff" stroke="#1f77b4"/>'
            f'<text x="{kx}" y="{axis_y + 50}" text-anchor="middle" font-size="10">{n}'
            f"<title>{escape(str(text)[:120])}</title></text>"
        )
    height = axis_y + 64
    legend = (
        f'<text x="10" y="{axis_y + 33}" font-size="11">▲ pages</text>'
        f'<text x="10" y="{axis_y + 50}" font-size="11">● key events</text>'
    )
    summary = "; ".join(
        f"{label} {human_duration((b - a).total_seconds())}" for _, label, _, _, a, b in phases
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="pc-title pc-desc" '
        f'font-family="sans-serif">'
        f'<title id="pc-title">Phases of {escape(incident["ref"])}</title>'
        f'<desc id="pc-desc">{escape(summary or "no phase completed")}; '
        f"{len(marks)} pages, {len(keys)} key events and decisions.</desc>"
        + "".join(rows)
        + f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#333"/>'
        + "".join(ticks)
        + legend
        + "".join(pins)
        + "</svg>"
    )


# --- templates --------------------------------------------------------------------------------


@cache
def _environment(dirs: tuple[Path, ...], markdown: bool) -> SandboxedEnvironment:
    loaders = [FileSystemLoader(str(d)) for d in dirs if d.is_dir()]
    env = SandboxedEnvironment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES))]),
        autoescape=not markdown,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_md_finalize if markdown else None,
    )
    env.filters.update(
        fence=code_fence, autolink=md_autolink, team_markdown=md_quote, html_markdown=_html_md
    )
    return env


def _html_md(text: str) -> Markup:
    from tocsin.services.runbooks import _markdown

    return Markup(_markdown().render(text or ""))


@cache
def _style() -> tuple[Markup, str]:
    css = (TEMPLATES / "postmortem.css").read_text().strip()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return Markup(css), f"'sha256-{digest}'"


def render_markdown(document: dict[str, Any], template_dirs: Sequence[Path] = ()) -> str:
    env = _environment(tuple(template_dirs), True)
    return env.get_template(MD_TEMPLATE).render(d=document, hours=_hhmm)


def render_html(document: dict[str, Any], template_dirs: Sequence[Path] = ()) -> str:
    env = _environment(tuple(template_dirs), False)
    css, source = _style()
    return env.get_template(HTML_TEMPLATE).render(
        d=document, chart=phase_chart(document), css=css, style_source=source, hours=_hhmm
    )


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _hhmm(value: str | None) -> str:
    """`2026-11-27 14:03:09Z` for an ISO time (UTC)."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%SZ")
