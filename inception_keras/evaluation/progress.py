"""Progress bars people read: Keras' Progbar with readable numbers, one line per update off a terminal."""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
import time

import numpy as np


def metric_text(name: str, value) -> str:
    """A metric as a progress bar shows it: ``top-1 71.2%``, ``loss 1.234``, ``7.1 images/s``,
    ``iterations 3``, ``lr 0.00045``; validation ones start with ``val``. (Keras' own bar prints
    ``top1: 0.0000e+00``; logs and files keep the numbers.)"""
    try:
        value = float(np.mean(value))
    except (TypeError, ValueError):
        return f"{name} {value}"
    prefix, base = ("val ", name[4:]) if name.startswith("val_") else ("", name)
    if not math.isfinite(value):
        return f"{prefix}{base} {value}"
    top = re.fullmatch(r"(?:(?P<head>\w*?)_)?top_?(?P<k>\d+)(?:_accuracy)?", base)
    if top:
        head = top["head"] if top["head"] not in (None, "", "Predictions") else ""
        return f"{prefix}{head + ' ' if head else ''}top-{top['k']} {100 * value:.1f}%"
    if base in ("images_per_second", "images/s"):
        return f"{prefix}{value:.1f} images/s"
    if base in ("iterations", "epoch", "step", "steps"):
        return f"{prefix}{base} {round(value)}"
    if base in ("lr", "learning_rate"):
        return f"{prefix}lr {value:.3g}"
    return f"{prefix}{base} {value:.4g}"


@functools.lru_cache(maxsize=1)
def _readable_progbar_class():
    import keras  # noqa: PLC0415

    class ReadableProgbar(keras.utils.Progbar):
        """Keras' progress bar (its averaging, bar and ETA) with the metrics of :func:`metric_text`."""

        def update(self, current, values=None, finalize=None):
            if finalize is None:
                finalize = self.target is not None and current >= self.target
            verbose, last = self.verbose, self._last_update
            self.verbose = 0  # Keras keeps the running values; the line is drawn here
            try:
                super().update(current, values, finalize)
            finally:
                self.verbose, self._last_update = verbose, last
            now = time.time()
            if verbose == 1:
                if now - self._last_update < self.interval and not finalize:
                    return
                self._draw(current, now, finalize)
            elif verbose == 2 and finalize and self.target:
                digits = int(math.log10(self.target)) + 1
                line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -" + \
                    self._format_time(self._estimate_step_duration(current, now), self.unit_name)
                self._print(line + self._metrics() + "\n")
            self._last_update = now

        def _metrics(self) -> str:
            out = ""
            for k in self._values_order:
                value = self._values[k]
                if isinstance(value, list):
                    total, count = value
                    value = (total if isinstance(total, float) else np.mean(total)) / max(1, count)
                out += f" - {metric_text(k, value)}"
            return out

        def _draw(self, current, now, finalize):
            message, special = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n", 0
            if self.target is not None and self.target > 0:
                digits = int(math.log10(self.target)) + 1
                width = int(self.width * current / self.target)
                bar = f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m "
                special += 8
                if width > 0:
                    bar += f"\33[32m{'━' * width}\x1b[0m"
                    special += 9
                bar += f"\33[37m{'━' * (self.width - width)}\x1b[0m"
                special += 9
            else:
                bar = f"{current:7d}/Unknown"
            per_unit = self._estimate_step_duration(current, now)
            if self.target and not finalize:
                eta = per_unit * (self.target - current)
                when = (f"{eta // 3600:.0f}:{eta % 3600 // 60:02.0f}:{eta % 60:02.0f}" if eta > 3600
                        else f"{eta // 60:.0f}:{eta % 60:02.0f}" if eta > 60 else f"{eta:.0f}s")
            else:
                when = f"{now - self._start:.0f}s"
            info = f" \x1b[1m{when}\x1b[0m" + self._format_time(per_unit, self.unit_name) + self._metrics()
            special += 8
            total_width = len(bar) + len(info) - special
            line = message + bar + info + " " * max(0, self._prev_total_width - total_width)
            self._print(line + ("\n" if finalize else ""))
            self._prev_total_width = total_width

        @staticmethod
        def _print(text):
            if keras.config.is_interactive_logging_enabled():  # as Keras' bar (io_utils.print_msg)
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                logging.getLogger("keras").info(text)

    return ReadableProgbar


def readable_progbar(target, **kwargs):
    """A ``keras.utils.Progbar`` whose metrics read as :func:`metric_text` writes them."""
    return _readable_progbar_class()(target, **kwargs)

