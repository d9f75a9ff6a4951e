"""The SVG charts' frame, value axis and bar chart (shared by hall pass and car line reports)."""

import re

from shared.charts import BAR_FRAME, Bar, Frame, bar_chart_svg, nice_scale, value_axis


def test_nice_scale_rounds_the_top_up_to_one_two_or_five_times_a_power_of_ten():
    assert nice_scale(0) == (1, 1)
    assert nice_scale(4) == (4, 1)
    assert nice_scale(7) == (8, 2)
    assert nice_scale(14) == (15, 5)
    assert nice_scale(14, most_steps=8) == (14, 2)
    assert nice_scale(0.2) == (1, 1)
    assert nice_scale(151) == (200, 50)
    assert nice_scale(7000) == (8000, 2000)


def test_value_axis_draws_a_grid_line_and_a_label_per_step():
    frame = Frame(width=100, height=100, left=10, right=10, top=10, bottom=10)
    parts = value_axis(frame, 20, 5)
    assert [re.search(r">(\d+)</text>", p).group(1) for p in parts] == ["0", "5", "10", "15", "20"]
    assert 'y1="90.0"' in parts[0] and 'y1="10.0"' in parts[-1]  # 0 at the bottom, top at top


def test_bar_chart_escapes_labels_and_scales_bars_to_the_axis():
    bars = [Bar("<b>Mon</b>", 3, "3", "M&T"), Bar("Tue", 6, "6", "Tue")]
    svg = str(bar_chart_svg("Passes & <more>", bars, chart_id="c", css="wide"))
    assert svg.startswith('<svg class="chart wide"') and svg.endswith("</svg>")
    assert "<b>" not in svg and "&lt;b&gt;Mon&lt;/b&gt;: 3" in svg and "M&amp;T" in svg
    assert "Passes &amp; &lt;more&gt;" in svg and "style=" not in svg
    heights = [float(h) for h in re.findall(r'<rect class="chart-bar"[^>]*height="([\d.]+)"', svg)]
    assert heights == [BAR_FRAME.plot_height / 2, BAR_FRAME.plot_height]
    assert str(bar_chart_svg("Nothing", [], chart_id="c")) == ""
