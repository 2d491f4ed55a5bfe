"""Ranking runbooks for an incident, with the reasons of every match.

A responder trusts a suggestion they can check, so each score is a sum of named parts:
- an alert's `runbook_url` annotation names the runbook outright: it is ranked first;
- the incident's (or an alert's) service is one the runbook covers;
- an alert's name is one the runbook covers;
- an alert's labels satisfy one of the runbook's label matchers;
- text relevance: BM25 over the runbook's title, tags, services and alert names (weighted up)
  and its body, against the incident's and alerts' titles, descriptions and label values.

The index (inverted postings, document lengths, lookups by service and alert name) is built
once per set of runbooks, so ranking 2,000 runbooks reads the postings of the query's terms and
the few structured candidates, never every body.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tocsin.domain.incidents import Incident
from tocsin.domain.runbooks import AlertMatcher, Runbook

# --- weights: one place, so the docs' example and the tests agree --------------------------------
W_DIRECT = 100.0  # the alert names the runbook itself
W_ALERT = 5.0
W_LABELS = 3.5
W_LABEL_EACH = 0.5  # per label of the matcher beyond the first: a narrower match is better
W_SERVICE = 2.0  # broad: every runbook of the service gets it
W_TEXT = 4.0  # the most text relevance can add (it saturates)
TEXT_HALF = 6.0  # the BM25 score at which text adds half of W_TEXT
#: the most the typed words of a search add (they outweigh the incident's service and alerts)
W_SEARCH = 12.0
#: below this a runbook is not suggested (a service match alone is enough)
MIN_SCORE = 1.5
#: a runbook found by text alone needs this many distinct words in common (one shared word,
#: like "empty", is a coincidence)
MIN_TEXT_TERMS = 2
#: field weights of a runbook's text (a word in the title says more than one in the body)
FIELD_WEIGHTS = {"title": 3, "tags": 2, "names": 2, "body": 1}
BM25_K1 = 1.2
BM25_B = 0.75
#: query text is capped: a 50 KB alert description should not slow the ranking down
MAX_QUERY_CHARS = 8000
#: label values worth reading as text (others, like instance or pod, are noise)
TEXT_LABELS = ("alertname", "job", "service", "component", "namespace", "app", "team", "category")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "were",
        "when",
        "where",
        "which",
        "while",
        "will",
        "with",
        "you",
        "your",
        "alert",
        "alerts",
        "firing",
        "fired",
        "incident",
        "please",
        "check",
        "high",
        "low",
        "api",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def stem(word: str) -> str:
    """A light plural folding (errors -> error, replicas -> replica, queries -> query): enough
    for runbook titles, and predictable in the reasons shown to people."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@cache
def _term(word: str) -> str:
    """A word's index term, "" for a stop word (cached: a corpus repeats its words)."""
    return "" if len(word) < 2 or word in STOPWORDS else stem(word)


def terms(text: str) -> list[str]:
    """Lowercase words without stop words, CamelCase split (HighLatency -> high, latency)."""
    found = (_term(w) for w in _WORD.findall(_CAMEL.sub(" ", text).lower()))
    return [t for t in found if t]


# --- what is ranked against ----------------------------------------------------------------------
@dataclass(frozen=True)
class AlertView:
    """What ranking reads of an alert (stored alerts are dicts, new ones Alert models)."""

    name: str
    title: str
    description: str
    labels: Mapping[str, str]
    runbook_url: str | None


def alert_view(alert: Any) -> AlertView:
    get = alert.get if isinstance(alert, Mapping) else lambda key: getattr(alert, key, None)
    labels = dict(get("labels") or {})
    links = get("links") or {}
    runbook = links.get("runbook") if isinstance(links, Mapping) else links.runbook
    title = str(get("title") or "")
    return AlertView(
        name=labels.get("alertname") or title,
        title=title,
        description=str(get("description") or ""),
        labels=labels,
        runbook_url=runbook or labels.get("runbook_url"),
    )


@dataclass(frozen=True)
class Situation:
    """An incident and its alerts, as ranking sees them."""

    service: str | None
    alerts: tuple[AlertView, ...]
    text: str

    @classmethod
    def of(cls, incident: Incident | None, alerts: Iterable[Any] = ()) -> Situation:
        views = [alert_view(a) for a in list(alerts)[:50]]
        parts: list[str] = []
        if incident is not None:
            # the incident itself counts as an alert: declared incidents have no other
            views.insert(
                0,
                AlertView(
                    name=incident.labels.get("alertname") or incident.title,
                    title=incident.title,
                    description=incident.description,
                    labels=incident.labels,
                    runbook_url=incident.labels.get("runbook_url"),
                ),
            )
        for view in views:
            parts += [view.title, view.description]
            parts += [view.labels[k] for k in TEXT_LABELS if view.labels.get(k)]
        service = incident.service if incident is not None else None
        return cls(service, tuple(views), " ".join(parts)[:MAX_QUERY_CHARS])


@dataclass
class Suggestion:
    """A ranked runbook: `direct` when an alert linked it (`runbook_url`); `runbook_id` is
    None for a linked page Tocsin does not know (it is linked as is)."""

    runbook_id: str | None
    title: str
    url: str | None
    score: float
    reasons: list[str] = field(default_factory=list)
    direct: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "runbook_id": self.runbook_id,
            "title": self.title,
            "url": self.url,
            "score": round(self.score, 2),
            "reasons": self.reasons,
            "direct": self.direct,
        }


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


_META = set(".^$*+?{}[]\\|()")


def literal_prefix(pattern: str) -> str:
    """The literal text a full match of `pattern` must start with ("checkout.*" -> "checkout",
    "AWS/RDS" -> "AWS/RDS"); "" when unsure (alternation, flags, a leading class...)."""
    if "|" in pattern:
        return ""
    prefix: list[str] = []
    for char in pattern:
        if char in _META:
            # a quantifier makes the character before it optional
            if char in "*?{" and prefix:
                prefix.pop()
            return "".join(prefix)
        prefix.append(char)
    return "".join(prefix)


@dataclass(frozen=True)
class _LabelMatcher:
    """A runbook's label matcher, compiled once (re's own cache holds 512 patterns: 2,000
    runbooks would recompile on every ranking)."""

    runbook: int
    name: str | None
    labels: tuple[tuple[str, re.Pattern[str]], ...]
    shown: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """What every value the first label matches starts with (the index's bucket)."""
        return literal_prefix(self.labels[0][1].pattern)

    @classmethod
    def of(cls, runbook: int, matcher: AlertMatcher) -> _LabelMatcher:
        return cls(
            runbook,
            matcher.name.lower() if matcher.name else None,
            tuple((key, re.compile(pattern)) for key, pattern in matcher.labels.items()),
            tuple(matcher.labels),
        )

    def matches(self, alert: AlertView) -> bool:
        if self.name is not None and self.name not in (alert.name.lower(), alert.title.lower()):
            return False
        return all(
            key in alert.labels and pattern.fullmatch(alert.labels[key])
            for key, pattern in self.labels
        )


class RunbookIndex:
    """The ranking structures of one set of runbooks (immutable once built)."""

    def __init__(self, runbooks: Sequence[Runbook]) -> None:
        self.runbooks = list(runbooks)
        self.by_id = {rb.id: n for n, rb in enumerate(self.runbooks)}
        self.by_url = {_normal_url(rb.url): n for n, rb in enumerate(self.runbooks) if rb.url}
        self.by_service: dict[str, list[int]] = defaultdict(list)
        self.by_alert_name: dict[str, list[int]] = defaultdict(list)
        #: matchers with labels, by their first label and that label's literal prefix: an
        #: alert's value is checked only against matchers its beginning can satisfy
        self.label_matchers: dict[str, dict[str, list[_LabelMatcher]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.longest_prefix: dict[str, int] = defaultdict(int)
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.lengths: list[float] = []
        for n, rb in enumerate(self.runbooks):
            for service in rb.meta.services:
                self.by_service[service].append(n)
            for matcher in rb.meta.alerts:
                if matcher.labels:
                    compiled = _LabelMatcher.of(n, matcher)
                    key, prefix = compiled.shown[0], compiled.prefix
                    self.label_matchers[key][prefix].append(compiled)
                    self.longest_prefix[key] = max(self.longest_prefix[key], len(prefix))
                elif matcher.name:
                    self.by_alert_name[matcher.name.lower()].append(n)
            weights: Counter[str] = Counter()
            names = [*rb.meta.services, *(m.name for m in rb.meta.alerts if m.name)]
            for name, text in (
                ("title", rb.meta.title),
                ("tags", " ".join(rb.meta.tags)),
                ("names", " ".join(names)),
                ("body", rb.body),
            ):
                for term, count in Counter(terms(text)).items():
                    weights[term] += count * FIELD_WEIGHTS[name]
            for term, weight in weights.items():
                self.postings[term].append((n, float(weight)))
            self.lengths.append(float(sum(weights.values())))
        count = len(self.runbooks)
        self.average_length = (sum(self.lengths) / count) if count else 1.0
        self.idf = {
            term: math.log(1 + (count - len(p) + 0.5) / (len(p) + 0.5))
            for term, p in self.postings.items()
        }
        # BM25's term-frequency part depends only on the runbook: computed once, here
        for postings in self.postings.values():
            for i, (n, tf) in enumerate(postings):
                norm = 1 - BM25_B + BM25_B * self.lengths[n] / self.average_length
                postings[i] = (n, tf * (BM25_K1 + 1) / (tf + BM25_K1 * norm))
        #: words in more than half of the runbooks tell them apart by almost nothing (their
        #: IDF is near zero) and cost the most to score: ranking skips them
        self.common = {t for t, p in self.postings.items() if count >= 20 and len(p) > count / 2}

    def _candidates(self, alert: AlertView) -> Iterable[_LabelMatcher]:
        """The label matchers whose first label's literal prefix starts the alert's value."""
        for key, value in alert.labels.items():
            buckets = self.label_matchers.get(key)
            if not buckets:
                continue
            for end in range(min(len(value), self.longest_prefix[key]) + 1):
                yield from buckets.get(value[:end], ())

    # --- parts of the score --------------------------------------------------------------------
    def text_scores(self, text: str) -> dict[int, tuple[float, list[tuple[float, str]]]]:
        """BM25 per runbook with each query term's contribution (for the reasons)."""
        totals: dict[int, float] = defaultdict(float)
        parts: dict[int, list[tuple[float, str]]] = defaultdict(list)
        for term in set(terms(text[:MAX_QUERY_CHARS])):
            idf = self.idf.get(term)
            if idf is None or term in self.common:
                continue
            for n, weight in self.postings[term]:
                part = idf * weight
                totals[n] += part
                parts[n].append((part, term))
        return {n: (total, parts[n]) for n, total in totals.items()}

    def rank(
        self, situation: Situation, query: str | None = None, limit: int = 3
    ) -> list[Suggestion]:
        """The best `limit` runbooks for the situation (and the query, when searching)."""
        found: dict[int, Suggestion] = {}

        def add(n: int, score: float, reason: str) -> None:
            rb = self.runbooks[n]
            suggestion = found.setdefault(n, Suggestion(rb.id, rb.title, rb.url, 0.0))
            suggestion.score += score
            if reason not in suggestion.reasons:
                suggestion.reasons.append(reason)

        direct: list[Suggestion] = []
        for alert in situation.alerts:
            if not alert.runbook_url:
                continue
            n_direct = self.by_url.get(_normal_url(alert.runbook_url))
            reason = f"runbook_url of alert {alert.name}"
            if n_direct is not None:
                add(n_direct, W_DIRECT, reason)
                found[n_direct].direct = True
            elif all(s.url != alert.runbook_url for s in direct):
                direct.append(
                    Suggestion(None, alert.name, alert.runbook_url, W_DIRECT, [reason], direct=True)
                )
        if situation.service:
            for n in self.by_service.get(situation.service, ()):
                add(n, W_SERVICE, f"service {situation.service}")
        for alert in situation.alerts:
            for name in {alert.name.lower(), alert.title.lower()}:
                for n in self.by_alert_name.get(name, ()):
                    add(n, W_ALERT, f"alert {alert.name}")
        matched: set[tuple[int, tuple[str, ...]]] = set()
        for alert in situation.alerts:
            for matcher in self._candidates(alert):
                seen = (matcher.runbook, matcher.shown)
                if seen in matched or not matcher.matches(alert):
                    continue
                matched.add(seen)
                n = matcher.runbook
                if matcher.name:
                    add(n, W_ALERT, f"alert {alert.name}")
                shown = ", ".join(f"{k}={alert.labels[k]}" for k in matcher.shown)
                bonus = W_LABEL_EACH * (len(matcher.shown) - 1)
                add(n, W_LABELS + bonus, f"labels {shown}")
        if query:
            # a search: the typed words decide what is found (each result contains some of
            # them); the incident's service and alerts only reorder those results
            texts = {n: (bm25, parts) for n, (bm25, parts) in self.text_scores(query).items()}
            found = {n: s for n, s in found.items() if n in texts}
            direct = []
        else:
            texts = self.text_scores(situation.text)
        shown_elsewhere = {stem(situation.service.lower())} if situation.service else set()
        weak: set[int] = set()
        for n, (bm25, parts) in texts.items():
            if not query and n not in found and len(parts) < MIN_TEXT_TERMS:
                weak.add(n)
                continue
            weight = (W_SEARCH if query else W_TEXT) * bm25 / (bm25 + TEXT_HALF)
            ordered = [term for _, term in sorted(parts, reverse=True)]
            words = [t for t in ordered if t not in shown_elsewhere][:4] or ordered[:4]
            add(n, weight, f"text: {', '.join(words)}")
        ranked = sorted(
            (s for n, s in found.items() if s.score >= MIN_SCORE and n not in weak),
            key=lambda s: (-s.score, s.title),
        )
        return (direct + ranked)[:limit]
