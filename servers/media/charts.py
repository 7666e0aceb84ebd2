"""Charts drawn with matplotlib (Agg, no pyplot state) from numbers or a world CSV, saved as PNG in the session.

matplotlib is imported on first use: it is slow to import, and listing tools should not wait for it. Drawing
is most of a chart's cost (layout and rasterising, tens of milliseconds), so each tool first checks its input
and computes what it returns, then hands `_save` a function that draws the figure and everything that shapes
it: the PNG of the same drawing is made once per process and written to each session that asks for it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, no_facts
from dive.servers.kit.memo import Memo, content_key

from .imaging import ImageFile, image_suffixes, write_encoded
from .workspace import DOMAIN, MediaWorkspace

MAX_POINTS = 20_000

Title = Annotated[str, Field(max_length=200, description="Chart title")]
AxisLabel = Annotated[str, Field(max_length=100)]
Width = Annotated[int, Field(ge=200, le=4000, description="Image width in pixels")]
Height = Annotated[int, Field(ge=150, le=4000, description="Image height in pixels")]
ChartOutput = Annotated[
    str | None,
    Field(description="Where to save the PNG in this session's media folder, e.g. 'out/sales.png' (replaces a file "
                      "there); default 'out/<kind>-<title>.png', numbered rather than replacing an earlier chart"),
]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _figure(width: int, height: int, title: str, x_label: str, y_label: str):
    """A fresh figure of exactly width x height pixels at 100 dpi, and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if title:
        ax.set_title(title)
    if x_label:
        ax.set_xlabel(x_label)
    if y_label:
        ax.set_ylabel(y_label)
    return fig, ax


_drawings: Memo[bytes] = Memo(128)


def _save(s: MediaWorkspace, output: str | None, kind: str, title: str, drawing: dict[str, Any],
          draw: Callable[[], Any]) -> ImageFile:
    """Save the chart that `draw()` builds as PNG in the session. `drawing` holds everything that shapes the
    figure (the tool's arguments but `output`, and any data read for it): the memo's key."""
    def render() -> bytes:
        import matplotlib

        fig = draw()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": f"matplotlib {matplotlib.__version__}"})
        return buffer.getvalue()

    data = _drawings.get(content_key(kind, json.dumps(drawing, sort_keys=True, default=str)), render)
    name = f"{kind}-{_slug(title)}.png" if _slug(title) else f"{kind}.png"
    target = s.output(output, name, image_suffixes("PNG"))
    return write_encoded(s, target, data)


def _finite(values: list[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ToolFailure(f"{what} is empty")
    if arr.size > MAX_POINTS:
        raise ToolFailure(f"{what} has {arr.size} values; at most {MAX_POINTS} can be drawn")
    if not np.all(np.isfinite(arr)):
        raise ToolFailure(f"{what} contains NaN or infinite values")
    return arr


def _size_ok(r: dict, width: int = 800, height: int = 500) -> bool:
    return r["image"]["format"] == "PNG" and (r["image"]["width"], r["image"]["height"]) == (width, height)


# -- line ----------------------------------------------------------------------------------------------------------


class SeriesSummary(BaseModel):
    label: str
    points: int
    min: float
    max: float
    mean: float
    first: float
    last: float
    x_at_min: str = Field(description="x value (as text) where the series is lowest (first occurrence)")
    x_at_max: str = Field(description="x value (as text) where the series is highest (first occurrence)")


class LineChart(BaseModel):
    image: ImageFile
    series: list[SeriesSummary]


def _summarise(label: str, xs: list, ys: np.ndarray) -> SeriesSummary:
    return SeriesSummary(label=label, points=len(ys), min=float(ys.min()), max=float(ys.max()),
                         mean=round(float(ys.mean()), 6), first=float(ys[0]), last=float(ys[-1]),
                         x_at_min=str(xs[int(ys.argmin())]), x_at_max=str(xs[int(ys.argmax())]))


def _tick_labels(ax, xs: list[str]) -> None:
    step = max(1, math.ceil(len(xs) / 12))
    ax.set_xticks(range(0, len(xs), step))
    ax.set_xticklabels([xs[i] for i in range(0, len(xs), step)], rotation=45, ha="right")


@DOMAIN.tool(meaning=no_facts("draws named series the caller assembles into a file whose name it chose; its summaries restate the caller's numbers"), 
    kind="processing",
    writes=True,
    examples=[Example({"series": {"sales": [3, 5, 4, 9], "costs": [2, 2, 3, 4]}, "x": ["Q1", "Q2", "Q3", "Q4"],
                       "title": "Quarterly"},
                      lambda r: _size_ok(r) and r["series"][0]["x_at_max"] == "Q4" and r["series"][1]["mean"] == 2.75)],
)
def line_chart(
    s: MediaWorkspace,
    series: Annotated[dict[str, list[float]], Field(min_length=1, max_length=20,
                                                   description="One or more named series: {'label': [y values]}")],
    x: Annotated[list[str | float] | None, Field(description="Shared x values (numbers or labels such as dates); "
                                                             "default 0, 1, 2, ...")] = None,
    title: Title = "",
    x_label: AxisLabel = "",
    y_label: AxisLabel = "",
    markers: Annotated[bool, Field(description="Draw a marker at every point")] = False,
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> LineChart:
    """Draw a line chart of one or more series and save it as PNG; returns the image path plus each series'
    min, max, mean, first and last values and where the extremes fall."""
    summaries, lines = [], []
    categorical = x is not None and any(isinstance(v, str) for v in x)
    for label, values in series.items():
        ys = _finite(values, f"series {label!r}")
        if x is not None and len(x) != len(ys):
            raise ToolFailure(f"series {label!r} has {len(ys)} values but x has {len(x)}; they must match")
        xs = list(x) if x is not None else list(range(len(ys)))
        lines.append((label, list(range(len(ys))) if categorical else xs, ys))
        summaries.append(_summarise(label, xs, ys))

    def draw():
        fig, ax = _figure(width, height, title, x_label, y_label)
        for label, positions, ys in lines:
            ax.plot(positions, ys, label=label, marker="o" if markers else None, markersize=4)
        if categorical:
            _tick_labels(ax, [str(v) for v in x])
        if len(series) > 1:
            ax.legend()
        ax.grid(alpha=0.3)
        return fig

    drawing = {"series": series, "x": x, "title": title, "x_label": x_label, "y_label": y_label, "markers": markers,
               "width": width, "height": height}
    return LineChart(image=_save(s, output, "line", title, drawing, draw), series=summaries)


# -- bar -----------------------------------------------------------------------------------------------------------


class BarChart(BaseModel):
    image: ImageFile
    order: list[str] = Field(description="Bar labels in the order drawn")
    total: float
    max_label: str
    max_value: float
    min_label: str
    min_value: float


@DOMAIN.tool(meaning=Meaning(facts=(Fact("max_label", "the one of {labels} with the largest of {values}"), Fact("min_label", "the one of {labels} with the smallest of {values}"), Fact("max_value", "the largest of {values}"), Fact("min_value", "the smallest of {values}"), Fact("total", "the sum of {values}"))), 
    kind="processing",
    writes=True,
    examples=[Example({"labels": ["Iron", "Gold", "Lead"], "values": [7.87, 19.3, 11.34], "sort": "descending",
                       "y_label": "g/cm3"},
                      lambda r: _size_ok(r) and r["order"] == ["Gold", "Lead", "Iron"] and r["max_label"] == "Gold")],
)
def bar_chart(
    s: MediaWorkspace,
    labels: Annotated[list[str], Field(min_length=1, max_length=200, description="One label per bar")],
    values: Annotated[list[float], Field(min_length=1, max_length=200, description="One value per bar")],
    title: Title = "",
    x_label: AxisLabel = "",
    y_label: AxisLabel = "",
    horizontal: Annotated[bool, Field(description="Draw horizontal bars (good for long labels)")] = False,
    sort: Annotated[Literal["none", "ascending", "descending"], Field(description="Order of the bars")] = "none",
    color: Annotated[str, Field(description="Bar colour (name or '#rrggbb')")] = "#1f77b4",
    value_labels: Annotated[bool, Field(description="Print each value on its bar")] = False,
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> BarChart:
    """Draw a bar chart (vertical or horizontal, optionally sorted, with value labels) and save it as PNG; returns
    the drawn order, the total and the largest and smallest bars."""
    if len(labels) != len(values):
        raise ToolFailure(f"{len(labels)} labels but {len(values)} values; give one value per label")
    ys = _finite(values, "values")
    order = list(range(len(labels)))
    if sort != "none":
        order.sort(key=lambda i: (ys[i], -i) if sort == "ascending" else (-ys[i], i))
    names, heights = [labels[i] for i in order], ys[order]
    from matplotlib.colors import is_color_like

    if not is_color_like(color):
        raise ToolFailure(f"color {color!r} is not a colour matplotlib knows: a name such as 'teal' or '#rrggbb'")

    def draw():
        fig, ax = _figure(width, height, title, x_label, y_label)
        bars = (ax.barh(names[::-1], heights[::-1], color=color) if horizontal else ax.bar(names, heights, color=color))
        if value_labels:
            ax.bar_label(bars, fmt="%g")
        if not horizontal and len(names) > 6:
            ax.tick_params(axis="x", labelrotation=45)
        return fig

    imax, imin = int(ys.argmax()), int(ys.argmin())
    drawing = {"labels": labels, "values": values, "title": title, "x_label": x_label, "y_label": y_label,
               "horizontal": horizontal, "sort": sort, "color": color, "value_labels": value_labels,
               "width": width, "height": height}
    return BarChart(image=_save(s, output, "bar", title, drawing, draw), order=names, total=round(float(ys.sum()), 9),
                    max_label=labels[imax], max_value=float(ys[imax]), min_label=labels[imin], min_value=float(ys[imin]))


# -- scatter -------------------------------------------------------------------------------------------------------


class ScatterChart(BaseModel):
    image: ImageFile
    points: int
    pearson_r: float | None = Field(description="Correlation of x and y (-1..1); null when either is constant")
    slope: float | None = Field(description="Least-squares line y = slope * x + intercept")
    intercept: float | None
    r_squared: float | None


@DOMAIN.tool(meaning=Meaning(facts=(Fact("pearson_r", "the correlation between {x} and {y}"), Fact("slope", "the slope of the least-squares line of {y} against {x}"))), 
    kind="processing",
    writes=True,
    examples=[Example({"x": [1, 2, 3, 4, 5], "y": [2.1, 3.9, 6.2, 8.0, 9.8], "fit_line": True},
                      lambda r: _size_ok(r) and r["points"] == 5 and r["pearson_r"] > 0.99 and 1.8 < r["slope"] < 2.1)],
)
def scatter_chart(
    s: MediaWorkspace,
    x: Annotated[list[float], Field(min_length=2, description="x coordinates")],
    y: Annotated[list[float], Field(min_length=2, description="y coordinates, one per x")],
    point_labels: Annotated[list[str] | None, Field(description="Optional text beside each point (up to 100 points)")] = None,
    fit_line: Annotated[bool, Field(description="Draw the least-squares line")] = False,
    log_x: bool = False,
    log_y: bool = False,
    title: Title = "",
    x_label: AxisLabel = "",
    y_label: AxisLabel = "",
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> ScatterChart:
    """Draw a scatter plot (optionally labelled points, log axes, fitted line) and save it as PNG; returns the
    Pearson correlation and the least-squares slope, intercept and R^2."""
    xs, ys = _finite(x, "x"), _finite(y, "y")
    if len(xs) != len(ys):
        raise ToolFailure(f"x has {len(xs)} values but y has {len(ys)}; they must match")
    if point_labels is not None and len(point_labels) != len(xs):
        raise ToolFailure(f"{len(point_labels)} point_labels for {len(xs)} points; give one per point or none")
    if (log_x and np.any(xs <= 0)) or (log_y and np.any(ys <= 0)):
        raise ToolFailure("a log axis needs every value on it to be positive")
    r = slope = intercept = r2 = None
    if np.ptp(xs) > 0 and np.ptp(ys) > 0:
        r = float(np.corrcoef(xs, ys)[0, 1])
        slope, intercept = (float(v) for v in np.polyfit(xs, ys, 1))
        r2 = r * r

    def draw():
        fig, ax = _figure(width, height, title, x_label, y_label)
        ax.scatter(xs, ys, s=20)
        if point_labels is not None and len(xs) <= 100:
            for px, py, text in zip(xs, ys, point_labels):
                ax.annotate(text, (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if fit_line and slope is not None:
            line_x = np.linspace(xs.min(), xs.max(), 100)
            ax.plot(line_x, slope * line_x + intercept, color="#d62728", label=f"y = {slope:.3g}x + {intercept:.3g}")
            ax.legend()
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        return fig

    rnd = lambda v: None if v is None else round(v, 6)
    drawing = {"x": x, "y": y, "point_labels": point_labels, "fit_line": fit_line, "log_x": log_x, "log_y": log_y,
               "title": title, "x_label": x_label, "y_label": y_label, "width": width, "height": height}
    return ScatterChart(image=_save(s, output, "scatter", title, drawing, draw), points=len(xs), pearson_r=rnd(r),
                        slope=rnd(slope), intercept=rnd(intercept), r_squared=rnd(r2))


# -- pie -----------------------------------------------------------------------------------------------------------


class PieSlice(BaseModel):
    label: str
    value: float
    percent: float


class PieChart(BaseModel):
    image: ImageFile
    total: float
    slices: list[PieSlice] = Field(description="Slices in the given order with their percentage of the total")


@DOMAIN.tool(meaning=Meaning(facts=(Fact("total", "the sum of {values}"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"labels": ["A", "B", "C"], "values": [50, 30, 20], "title": "Share"},
                      lambda r: _size_ok(r) and [p["percent"] for p in r["slices"]] == [50.0, 30.0, 20.0])],
)
def pie_chart(
    s: MediaWorkspace,
    labels: Annotated[list[str], Field(min_length=1, max_length=50)],
    values: Annotated[list[float], Field(min_length=1, max_length=50, description="Non-negative sizes, one per label")],
    title: Title = "",
    show_percent: Annotated[bool, Field(description="Print percentages on the slices")] = True,
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> PieChart:
    """Draw a pie chart and save it as PNG; returns each slice's percentage of the total."""
    if len(labels) != len(values):
        raise ToolFailure(f"{len(labels)} labels but {len(values)} values; give one value per label")
    vs = _finite(values, "values")
    if np.any(vs < 0) or vs.sum() <= 0:
        raise ToolFailure("pie values must be non-negative and not all zero")

    def draw():
        fig, ax = _figure(width, height, title, "", "")
        ax.pie(vs, labels=labels, autopct="%1.1f%%" if show_percent else None, startangle=90, counterclock=False)
        ax.axis("equal")
        return fig

    total = float(vs.sum())
    slices = [PieSlice(label=lab, value=float(v), percent=round(100 * float(v) / total, 4)) for lab, v in zip(labels, vs)]
    drawing = {"labels": labels, "values": values, "title": title, "show_percent": show_percent, "width": width,
               "height": height}
    return PieChart(image=_save(s, output, "pie", title, drawing, draw), total=total, slices=slices)


# -- histogram -----------------------------------------------------------------------------------------------------


class HistogramChart(BaseModel):
    image: ImageFile
    count: int
    bin_edges: list[float]
    counts: list[int]
    mean: float
    median: float
    std: float
    min: float
    max: float


@DOMAIN.tool(meaning=Meaning(facts=(Fact("mean", "the mean of {values}"), Fact("median", "the median of {values}"), Fact("std", "the standard deviation of {values}"), Fact("min", "the smallest of {values}"), Fact("max", "the largest of {values}"))), 
    kind="processing",
    writes=True,
    examples=[Example({"values": [1, 2, 2, 3, 3, 3, 4, 4, 5], "bins": 5},
                      lambda r: _size_ok(r) and sum(r["counts"]) == 9 and r["median"] == 3 and len(r["bin_edges"]) == 6)],
)
def histogram_chart(
    s: MediaWorkspace,
    values: Annotated[list[float], Field(min_length=1, description="The sample to bin")],
    bins: Annotated[int, Field(ge=1, le=200, description="Number of equal-width bins")] = 10,
    title: Title = "",
    x_label: AxisLabel = "",
    y_label: AxisLabel = "count",
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> HistogramChart:
    """Draw a histogram of a list of numbers and save it as PNG; returns the bin edges and counts plus the mean,
    median, standard deviation, min and max of the sample."""
    vs = _finite(values, "values")
    counts, edges = np.histogram(vs, bins=bins)

    def draw():
        fig, ax = _figure(width, height, title, x_label, y_label)
        ax.hist(vs, bins=edges, color="#1f77b4", edgecolor="white")
        return fig

    drawing = {"values": values, "bins": bins, "title": title, "x_label": x_label, "y_label": y_label,
               "width": width, "height": height}
    return HistogramChart(image=_save(s, output, "histogram", title, drawing, draw), count=len(vs),
                          bin_edges=[round(float(e), 9) for e in edges], counts=[int(c) for c in counts],
                          mean=round(float(vs.mean()), 9), median=float(np.median(vs)), std=round(float(vs.std()), 9),
                          min=float(vs.min()), max=float(vs.max()))


# -- from a CSV of the world's files -------------------------------------------------------------------------------


class CsvChart(BaseModel):
    image: ImageFile
    source: str = Field(description="The CSV that was read (world files tree)")
    rows: int = Field(description="Rows drawn (after sorting and limiting)")
    columns: list[str] = Field(description="Every column of the CSV")
    series: list[SeriesSummary]


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _stock_csv_check(r: dict, world) -> bool:
    import sqlite3

    with sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True) as db:
        low, high = db.execute("SELECT MIN(price), MAX(price) FROM stock_prices WHERE symbol = 'MSFT'").fetchone()
    summary = r["series"][0]
    return _size_ok(r) and abs(summary["max"] - high) < 1e-6 and abs(summary["min"] - low) < 1e-6


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("csv_file", "path")}, items=(Items("series", phrase="the columns {y_columns} of {path}", name="label", attributes={"max": "largest value", "min": "smallest value", "mean": "mean value", "first": "first value", "last": "last value", "x_at_max": "x value where it is largest", "x_at_min": "x value where it is smallest"}),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": "data/stocks/MSFT.csv", "x_column": "date", "y_columns": ["price"], "title": "MSFT"},
                      _stock_csv_check, note="extremes match the stock_prices table")],
)
def chart_from_csv(
    s: MediaWorkspace,
    path: Annotated[str, Field(description="CSV in the world's files tree, e.g. 'data/stocks/MSFT.csv' or "
                                           "'reports/europe/FR_cities.csv'")],
    x_column: Annotated[str, Field(description="Column for the x axis (dates, names or numbers)")],
    y_columns: Annotated[list[str], Field(min_length=1, max_length=10, description="Numeric columns to plot")],
    kind: Annotated[Literal["line", "bar", "scatter"], Field(description="Chart type")] = "line",
    sort_by: Annotated[str | None, Field(description="Sort rows by this column (numbers numerically) before limiting")] = None,
    descending: bool = False,
    limit: Annotated[int | None, Field(ge=1, le=MAX_POINTS, description="Keep only the first N rows (after sorting)")] = None,
    title: Title = "",
    width: Width = 800,
    height: Height = 500,
    output: ChartOutput = None,
) -> CsvChart:
    """Chart columns of a CSV from the world's files tree (line, bar or scatter) and save it as PNG, e.g. a stock's
    prices over time or a country's ten largest cities. Returns per-column min, max, mean and where they occur."""
    real = s.locate_data(path)
    with real.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    for col in [x_column, *y_columns, *([sort_by] if sort_by else [])]:
        if col not in columns:
            raise ToolFailure(f"no column {col!r} in {path}; its columns are: {', '.join(columns)}")
    if sort_by:
        numeric = all(_number(r[sort_by]) is not None for r in rows if r[sort_by] != "")
        rows.sort(key=lambda r: (_number(r[sort_by]) or 0.0) if numeric else r[sort_by], reverse=descending)
    if limit:
        rows = rows[:limit]
    if not rows:
        raise ToolFailure(f"{path} has no data rows")
    if len(rows) > MAX_POINTS:
        raise ToolFailure(f"{path} has {len(rows)} rows; give limit (at most {MAX_POINTS})")
    xs = [r[x_column] for r in rows]
    x_numeric = [_number(v) for v in xs]
    summaries, columns_ys = [], []
    for col in y_columns:
        values = [_number(r[col]) for r in rows]
        if any(v is None for v in values):
            bad = next(r[col] for r, v in zip(rows, values) if v is None)
            raise ToolFailure(f"column {col!r} is not numeric (found {bad!r}); choose a numeric column")
        if kind == "scatter" and any(v is None for v in x_numeric):
            raise ToolFailure(f"a scatter needs a numeric x column; {x_column!r} is not numeric")
        ys = np.asarray(values, dtype=np.float64)
        columns_ys.append((col, ys))
        summaries.append(_summarise(col, xs, ys))

    def draw():
        fig, ax = _figure(width, height, title, x_column, y_columns[0] if len(y_columns) == 1 else "")
        positions = np.arange(len(rows), dtype=np.float64)
        bar_width = 0.8 / len(y_columns)
        for n, (col, ys) in enumerate(columns_ys):
            if kind == "line":
                ax.plot(positions, ys, label=col)
            elif kind == "bar":
                ax.bar(positions + n * bar_width - 0.4 + bar_width / 2, ys, width=bar_width, label=col)
            else:
                ax.scatter(x_numeric, ys, s=16, label=col)
        if kind != "scatter":
            _tick_labels(ax, xs)
        if len(y_columns) > 1:
            ax.legend()
        ax.grid(alpha=0.3)
        return fig

    drawing = {"x": xs, "y": [[col, ys.tolist()] for col, ys in columns_ys], "x_column": x_column, "kind": kind,
               "title": title, "width": width, "height": height}
    return CsvChart(image=_save(s, output, f"{kind}", title or real.stem, drawing, draw), source=path, rows=len(rows),
                    columns=columns, series=summaries)
