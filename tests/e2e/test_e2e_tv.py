"""The dismissal TV at 1920x1080 with 300 students called at once (a real afternoon).

A second school is filled with 250 called cars, two buses and the walkers
(`tests.e2e.busy_school`); its office opens the TV. Every car's name shows uncut (first
name and last initial) on the one screen, nothing overflows, the newest call is first and
marked, buses and walkers are groups of their own, and the board fills the screen. Its
screenshot is the README's.
"""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from shared.demo import PASSWORD
from tests.e2e.helpers import check_accessibility, screenshot

#: The smallest name on the board, in CSS pixels (.95rem of a TV's 20px at 300 calls).
MIN_NAME_PX = 18


def test_the_tv_shows_300_calls_uncut_on_one_screen(open_page, site):
    busy = json.loads(site.run("tests.e2e.busy_school"))
    tv = open_page("tv")
    tv.goto("/login")
    tv.get_by_label("Email").fill(busy["email"])
    tv.get_by_label("Password").fill(PASSWORD)
    tv.get_by_role("button", name="Sign in").click()
    expect(tv.get_by_role("button", name="Sign out")).to_be_visible()
    tv.goto("/carline/tv")
    rows = tv.locator("#tv-calls .tv-cars .tv-row")
    expect(rows).to_have_count(len(busy["cars"]))
    expect(rows.first).to_contain_text(busy["newest"])
    expect(rows.first).to_have_class(re.compile(r"\btv-newest\b"))
    others = tv.locator("#tv-calls .tv-others")
    expect(others.locator(".tv-group", has_text="Bus 7")).to_contain_text("15 called")
    expect(others.locator(".tv-group", has_text="Bus 12")).to_contain_text("15 called")
    expect(others.locator(".tv-group", has_text="Walkers")).to_contain_text("20 called")
    layout = tv.evaluate(
        """() => {
        const vw = innerWidth, vh = innerHeight, page = document.documentElement;
        const rows = [...document.querySelectorAll('#tv-calls .tv-cars .tv-row')];
        const problems = [];
        let right = 0, bottom = 0, smallest = 1e9;
        for (const row of rows) {
          const box = row.getBoundingClientRect();
          const name = row.querySelector('.tv-name');
          const nameBox = name.getBoundingClientRect();
          smallest = Math.min(smallest, parseFloat(getComputedStyle(name).fontSize));
          right = Math.max(right, box.right); bottom = Math.max(bottom, box.bottom);
          if (box.right > vw + 0.5 || box.bottom > vh + 0.5 || box.top < 0 || box.left < 0)
            problems.push('off screen: ' + name.textContent);
          if (nameBox.right > box.right + 0.5 || name.scrollWidth > name.clientWidth + 0.5
              || row.scrollWidth > row.clientWidth + 0.5)
            problems.push('cut: ' + name.textContent);
        }
        const first = rows[0].getBoundingClientRect();
        return {top: first.top, rowHeight: first.height, problems,
                names: rows.map(r => r.querySelector('.tv-name').textContent),
                right, bottom, smallest, vw, vh,
                scrollW: page.scrollWidth, scrollH: page.scrollHeight};
    }"""
    )
    assert layout["problems"] == [], {k: v for k, v in layout.items() if k != "names"}
    assert layout["names"] == list(reversed(busy["cars"]))  # all of them, newest first
    assert layout["scrollW"] <= layout["vw"] and layout["scrollH"] <= layout["vh"]
    assert layout["smallest"] >= MIN_NAME_PX, layout["smallest"]
    # The whole screen is used: the car columns reach across and down it.
    assert layout["right"] >= 0.75 * layout["vw"] and layout["bottom"] >= 0.85 * layout["vh"]
    check_accessibility(tv, "dismissal TV, 300 calls")
    screenshot(tv, "dismissal-tv")
