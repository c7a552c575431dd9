"""Benchmark: rendering and measuring, side by side in one run (prints figures, asserts nothing).

    .venv/bin/python bench/render.py [--repeat 30]

1. compose(): every channel x locale of the data-breach example, building the renderer each time
   (what `clarion preview` does) vs one renderer reused for every update (what per-recipient
   rendering must do), per rendition.
2. SMS counting: clarion.updates.limits.sms_count vs the obvious approach (encode with the gsm0338 codec,
   fall back to UTF-16, ceil-divide), on a 1600-character message.
Medians of --repeat runs; the machine is noisy, so compare the ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from clarion.facts import load_facts
from clarion.playbook import load_playbook
from clarion.settings import get_settings
from clarion.updates.compose import compose, promised_next_update
from clarion.updates.limits import sms_count  # importing clarion.updates.limits registers the gsm03.38 codec
from clarion.updates.render import Renderer

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(work: Callable[[], object], repeat: int, inner: int = 1) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            work()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def naive_sms_segments(text: str) -> int:
    try:
        units, single, part = len(text.encode("gsm03.38")), 160, 153
    except UnicodeEncodeError:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    settings = get_settings()
    playbook = load_playbook(ROOT / "playbooks" / "data-breach.yaml")
    facts = load_facts(ROOT / "examples" / "facts" / "data-breach.yaml", playbook)
    renditions = len(compose(playbook, facts, settings))
    renderer = Renderer(playbook, settings.templates_dir, sms_max_segments=settings.sms_max_segments)
    due = promised_next_update(playbook, facts)

    def warm() -> None:
        for locale in playbook.locales:
            for channel in playbook.channels:
                renderer.render(
                    facts, next_update_by=due, channel=channel, locale=locale, time_zone="Europe/Berlin"
                )

    cold_s = median_seconds(lambda: compose(playbook, facts, settings), args.repeat)
    warm_s = median_seconds(warm, args.repeat)
    print(f"render, {renditions} renditions per update (data-breach, en + de), median of {args.repeat}:")
    print(f"  new renderer per update  {cold_s * 1e3 / renditions:8.3f} ms per rendition")
    print(
        f"  reused renderer          {warm_s * 1e3 / renditions:8.3f} ms per rendition"
        f"  ({1 / (warm_s / renditions):,.0f} renditions/s on one core)"
    )
    print(f"  ratio new/reused         {cold_s / warm_s:8.1f} x")

    texts = {
        "GSM-7": ("Your service is back. " * 80)[:1600],
        "GSM-7 with [ ] €": ("Status [ok] costs 0 € " * 80)[:1600],
        "UCS-2": ("Ça marche — merci 😀 " * 90)[:1600],
    }
    print(f"SMS segment count of a 1600-character message, median of {args.repeat} x 200 calls:")
    for name, text in texts.items():
        ours = median_seconds(lambda t=text: sms_count(t), args.repeat, inner=200)
        naive = median_seconds(lambda t=text: naive_sms_segments(t), args.repeat, inner=200)
        agree = (
            "same"
            if sms_count(text).segments == naive_sms_segments(text)
            else (f"differs: {sms_count(text).segments} vs naive {naive_sms_segments(text)}")
        )
        print(
            f"  {name:18} clarion {ours * 1e6:8.1f} µs   codec+ceil {naive * 1e6:8.1f} µs"
            f"   ratio {naive / ours:5.1f} x   segments {agree}"
        )


if __name__ == "__main__":
    main()
