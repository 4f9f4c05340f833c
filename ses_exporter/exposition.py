"""Poll results rendered once, when the store keeps them, and joined at every scrape.

``render`` turns one poll result's families into ``Fragment``\\ s, one per family, each
holding its header lines in both formats a scrape may ask for, the Prometheus text format
(``prometheus_client.generate_latest``) and OpenMetrics
(``prometheus_client.openmetrics.exposition.generate_latest``), and its sample lines,
which both formats print alike. The bytes are cut out of what prometheus_client itself
prints for that family alone, so label escaping, number formatting and a counter's
``_total`` name in the text format's header are the library's, not a copy of it.

The fast path serves only what the collectors make (``families.FamilyBuilder``): gauges
and counters with legacy names (``[a-zA-Z_][a-zA-Z0-9_]*``) and legacy label names, no
unit, and samples without timestamp, exemplar or ``_created``. For those both printers
write the same sample lines (the name, the labels sorted with their values escaped
alike, ``floatToGoString(value)``), so the text format's lines serve both and the
OpenMetrics printer runs on the header only; the tests hold both printers to it. Any
other result (another type, a unit, a timestamp, a ``:`` in a name, a family twice) is
not ``plain``: the store keeps its ``Metric`` objects and the scrape prints it with
prometheus_client, as it prints everything for the ``dots`` escaping (``choose`` answers
``None``). A family prometheus_client cannot print fails the scrape there, as before,
not the poll here.

``join`` writes a scrape from the fresh results, family by family in the order of first
appearance: the header of the first result that has the family, then the samples of
every result. That is byte for byte what ``generate_latest`` prints for
``families.merge_families`` of the same results, without formatting a number::

    # HELP aws_ses_max_send_rate MaxSendRate (emails per second) ...   <- first result's
    # TYPE aws_ses_max_send_rate gauge
    aws_ses_max_send_rate{account_id="111111111111",region="eu-west-1"} 14.0  <- result 1
    aws_ses_max_send_rate{account_id="222222222222",region="us-east-1"} 1.0   <- result 2

Headers are the same for every target, so each distinct header is kept once
(``_intern``): per result, a fragment costs its sample lines and a few pointers. The cut
holds for the escapings that leave legacy names as they are (``underscores``,
``allow-utf-8``, ``values``).
"""

from __future__ import annotations

import math
import operator
import re
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import exposition
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as float_text

TEXT, OPENMETRICS = 0, 1  # index of a format in Fragment's pairs
Encoder = Callable[[Collector], bytes]

_EOF = b"# EOF\n"
# Legacy metric names without ':', which OpenMetrics prints differently per escaping.
_PLAIN_METRIC = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_LEGACY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
# Escapings under which prometheus_client prints a legacy name unchanged.
_NAME_PRESERVING = frozenset({openmetrics.UNDERSCORES, openmetrics.ALLOWUTF8, openmetrics.VALUES})
# Distinct headers kept once. Builders' HELP texts are constants, so this holds one entry
# per family and format; the bound only guards against HELP that varies.
_HEADERS: dict[bytes, bytes] = {}
_MAX_HEADERS = 4096
# Distinct result shapes (family names in order), kept once: a handful per collector.
_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_SHAPES = 4096


@dataclass(frozen=True, slots=True)
class Fragment:
    """One family of one poll result, rendered."""

    name: str  # Metric.name: what merges the same family of several results
    header: tuple[bytes, bytes]  # HELP and TYPE lines: (text, OpenMetrics)
    samples: bytes  # the sample lines, the same in both formats

    def nbytes(self, seen: set[int]) -> int:
        """Bytes of the rendered text this fragment holds that ``seen`` (ids of bytes
        objects already counted) does not; adds them to ``seen``."""
        found = 0
        for part in (*self.header, self.samples):
            if id(part) not in seen:
                seen.add(id(part))
                found += len(part)
        return found


@dataclass(frozen=True, slots=True)
class Rendered:
    """A poll result's families, rendered.

    ``plain``: every family is one the fast path serves (see the module docstring), so
    ``join`` serves them and ``parse`` gives them back exactly; the store then keeps the
    text alone. Otherwise ``fragments`` is empty and the families go to prometheus_client.
    """

    fragments: tuple[Fragment, ...] = ()
    plain: bool = True
    # Derived from ``fragments``, for ``join``: the family names in order (one object
    # for every result of the same shape) and the sample lines of each family.
    shape: tuple[str, ...] = field(init=False)
    samples: tuple[bytes, ...] = field(init=False)

    def __post_init__(self) -> None:
        shape = tuple(fragment.name for fragment in self.fragments)
        if len(_SHAPES) < _MAX_SHAPES:  # a bound against results that vary without end
            shape = _SHAPES.setdefault(shape, shape)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "samples", tuple(f.samples for f in self.fragments))

    def nbytes(self, seen: set[int] | None = None) -> int:
        """Bytes of rendered text held, each shared object once (see ``Fragment.nbytes``)."""
        seen = set() if seen is None else seen
        return sum(f.nbytes(seen) for f in self.fragments)


EMPTY = Rendered()
NOT_PLAIN = Rendered(plain=False)


def render(families: Sequence[Metric]) -> Rendered:
    """Renders a poll result's families (in the poller's thread, once per poll)."""
    seen_labels: set[str] = set()
    names = [metric.name for metric in families]
    if len(set(names)) != len(names) or not all(_served(m, seen_labels) for m in families):
        return NOT_PLAIN
    try:
        return Rendered(tuple(map(_fragment, families)))
    except Exception:  # the scrape falls back to prometheus_client, which reports it
        return NOT_PLAIN


def parse(rendered: Rendered, only: Collection[str] | None = None) -> list[Metric]:
    """The families of a ``plain`` result (those named in ``only``, if given), read back
    from its text format.

    The store keeps a plain poll result only as rendered text: at 1,000 configuration
    sets the ``Metric`` objects took several times the memory of their text, and only the
    rare scrapes the join cannot serve (``choose`` answers None) need them.
    prometheus_client's parser gives back names, HELP, types, labels and values exactly
    (``floatToGoString`` keeps every digit).
    """
    fragments = [f for f in rendered.fragments if only is None or f.name in only]
    text = b"".join(part for f in fragments for part in (f.header[TEXT], f.samples))
    return list(text_string_to_metric_families(text.decode()))


_SAMPLE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


def sample_values(
    rendered: Rendered, only: Collection[str]
) -> Iterator[tuple[str, dict[str, str], float]]:
    """(sample name, labels, value) of the families named in ``only`` of a ``plain``
    result, read from the sample lines ``render`` cut (legacy names, no timestamp): what
    ``parse`` gives, for a few families, without building ``Metric`` objects."""
    for fragment in rendered.fragments:
        if fragment.name not in only:
            continue
        for line in fragment.samples.decode().splitlines():
            found = _SAMPLE.fullmatch(line)
            if found is None:
                continue
            name, labels, value = found.groups()
            pairs = {
                k: re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)), v)
                for k, v in _LABEL.findall(labels or "")
            }
            yield name, pairs, float(value)


def label_value(value: str) -> str:
    """A label value escaped as both formats print it (backslash, newline, quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """``{name="value",...}`` as both formats print a legacy-named sample's labels:
    sorted by name, values escaped."""
    pairs = sorted(zip(names, values, strict=True))
    return "{" + ",".join(f'{name}="{label_value(value)}"' for name, value in pairs) + "}"


def sample_line(name: str, labels: str, value: float) -> bytes:
    """One sample line of a gauge or counter without timestamp, as both formats print it
    (``labels`` from ``label_text``)."""
    return f"{name}{labels} {float_text(value)}\n".encode()  # type: ignore[no-untyped-call]


Labels = TypeVar("Labels", bound=tuple[str, ...])


class SampleLines(Generic[Labels]):
    """The sample lines of a family with one sample per label tuple, each printed again
    only when its value changes: for the self-metrics with a sample per account or target
    (2,000 lines at 1,500 targets) that prometheus_client would print whole at every
    scrape. Two scrapes at once may both print a line; neither waits for the other."""

    def __init__(self, sample_name: str, label_names: Sequence[str]):
        self.sample_name = sample_name
        self.label_names = tuple(label_names)
        self._lines: dict[Labels, tuple[float, bytes]] = {}

    def render(self, values: Mapping[Labels, float]) -> bytes:
        """The lines of ``values`` sorted by label values, as ``generate_latest`` prints a
        family whose samples were added in that order."""
        lines, kept = self._lines, {}
        for labels in sorted(values):
            value = values[labels]
            line = lines.get(labels)
            if line is None or not _same(line[0], value):
                text = label_text(self.label_names, labels)
                line = (value, sample_line(self.sample_name, text, value))
            kept[labels] = line
        self._lines = kept  # what is gone from ``values`` is forgotten
        return b"".join([line for _, line in kept.values()])


def choose(accept_header: str | None) -> tuple[Encoder, str, int | None]:
    """prometheus_client's encoder and content type for an Accept header, and the format
    ``join`` can serve for it (``TEXT``, ``OPENMETRICS``), or None when only the encoder
    can (an escaping that rewrites legacy names, such as ``dots``)."""
    encoder, content_type = exposition.choose_encoder(accept_header or "")
    function = getattr(encoder, "func", encoder)  # choose_encoder returns partials
    escaping = getattr(encoder, "keywords", {}).get("escaping", openmetrics.UNDERSCORES)
    served: int | None = None
    if escaping in _NAME_PRESERVING:
        if function is exposition.generate_latest:
            served = TEXT
        elif function is openmetrics.generate_latest:
            served = OPENMETRICS
    return encoder, content_type, served


def join(results: Sequence[Rendered], fmt: int, tail: bytes = b"") -> bytes:
    """The families of ``results`` merged and printed in format ``fmt`` (no ``# EOF``),
    then ``tail`` (in the same copy: at 100,000 series the body is megabytes).

    At 1,500 targets a scrape joins about 100,000 fragments while polls compete for the
    interpreter, so the per-fragment work is left to C: results are grouped by shape (the
    same families in the same order: every account result, most of the others), and
    ``zip`` turns each group's rows of sample lines into one column per family. The
    Python loop runs once per result and once per family of each shape. A family that
    results of several shapes share gets its samples back in result order. (A family is
    never twice in one plain result: ``render``.)
    """
    rows: dict[tuple[str, ...], list[tuple[bytes, ...]]] = {}
    indexes: dict[tuple[str, ...], list[int]] = {}
    firsts: dict[tuple[str, ...], Rendered] = {}  # in order of first appearance
    for index, result in enumerate(results):
        shape = result.shape
        group = rows.get(shape)
        if group is None:
            group = rows[shape] = []
            indexes[shape] = []
            firsts[shape] = result
        group.append(result.samples)
        indexes[shape].append(index)
    owners: dict[str, list[tuple[str, ...]]] = {}
    for shape in firsts:
        for name in shape:
            owners.setdefault(name, []).append(shape)
    columns = {shape: list(zip(*group, strict=True)) for shape, group in rows.items()}
    parts: list[bytes] = []
    for shape, first in firsts.items():
        for position, fragment in enumerate(first.fragments):
            shapes = owners.pop(fragment.name, None)
            if shapes is None:
                continue  # printed with an earlier shape
            parts.append(fragment.header[fmt])
            if len(shapes) == 1:
                parts.extend(columns[shape][position])
            else:
                parts.extend(_in_result_order(fragment.name, shapes, columns, indexes))
    parts.append(tail)
    return b"".join(parts)


def _in_result_order(
    name: str,
    shapes: list[tuple[str, ...]],
    columns: dict[tuple[str, ...], list[tuple[bytes, ...]]],
    indexes: dict[tuple[str, ...], list[int]],
) -> list[bytes]:
    """The sample lines of family ``name`` from the results of several shapes, in the
    order of the results."""
    merged = [
        pair
        for shape in shapes
        for pair in zip(indexes[shape], columns[shape][shape.index(name)], strict=True)
    ]
    merged.sort(key=operator.itemgetter(0))
    return [lines for _, lines in merged]


def _same(kept: float, value: float) -> bool:
    """Whether ``value`` prints as ``kept`` did: -0.0 equals 0.0 but prints apart, and NaN
    never equals itself (printed again each time)."""
    return kept == value and math.copysign(1.0, kept) == math.copysign(1.0, value)


class GzipPrefix:
    """A gzip stream of ``prefix`` left open, so that each scrape compresses only what
    follows it (the self-metrics) and the prefix is compressed once per content version.

    ``zlib``'s compressor is copied, not flushed: the tail is compressed against the
    prefix's window, and the result is one ordinary gzip member.
    """

    def __init__(self, key: object, prefix: bytes, level: int):
        self.key = key
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._head = self._compressor.compress(prefix)

    def finish(self, tail: bytes) -> bytes:
        compressor = self._compressor.copy()
        return b"".join((self._head, compressor.compress(tail), compressor.flush()))


class _One(Collector):
    def __init__(self, metric: Metric):
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


_SERVED_TYPES = frozenset({"counter", "gauge"})
_SERVED_SAMPLE = {"counter": "{}_total", "gauge": "{}"}  # a counter's only sample: no _created


def _served(metric: Metric, seen_labels: set[str]) -> bool:
    """Whether the fast path serves ``metric`` (see the module docstring)."""
    if metric.type not in _SERVED_TYPES or metric.unit or not _PLAIN_METRIC.match(metric.name):
        return False
    sample_name = _SERVED_SAMPLE[metric.type].format(metric.name)
    for sample in metric.samples:
        if (
            sample.name != sample_name
            or sample.timestamp is not None
            or sample.exemplar is not None
            or sample.native_histogram is not None
        ):
            return False
        for label in sample.labels:
            if label not in seen_labels:
                if not _LEGACY_LABEL.match(label):
                    return False
                seen_labels.add(label)
    return True


def _fragment(metric: Metric) -> Fragment:
    text_header, samples = _cut_header(exposition.generate_latest(_One(metric)))
    if samples.startswith(b"#"):  # a second header: never for a served family
        raise ValueError(f"the text format of {metric.name} is not one family")
    # OpenMetrics prints the same sample lines: its header only (see the module docstring).
    bare = Metric(metric.name, metric.documentation, metric.type)
    om = openmetrics.generate_latest(_One(bare))  # type: ignore[no-untyped-call]
    if not om.endswith(_EOF):
        raise ValueError(f"OpenMetrics of {metric.name} does not end in # EOF")
    om_header, om_samples = _cut_header(om[: -len(_EOF)])
    if om_samples:
        raise ValueError(f"OpenMetrics printed samples of {metric.name} without any")
    return Fragment(metric.name, (_intern(text_header), _intern(om_header)), samples)


def _intern(header: bytes) -> bytes:
    kept = _HEADERS.get(header)
    if kept is not None:
        return kept
    if len(_HEADERS) < _MAX_HEADERS:
        _HEADERS[header] = header  # a race only keeps two equal copies
    return header


def _cut_header(section: bytes) -> tuple[bytes, bytes]:
    """(the leading '# ' lines, the sample lines after them)."""
    end = 0
    while section.startswith(b"# ", end):
        end = section.index(b"\n", end) + 1
    return section[:end], section[end:]
