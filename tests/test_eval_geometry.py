"""Alignment / uniformity on vectors with known distances; the plot is a PNG."""

from __future__ import annotations

import numpy as np
import pytest
from eval_fixtures import CountingEncode, write_sts

from simcse.evaluation import alignment, evaluate_geometry, plot_geometry, uniformity


def test_alignment_known_values():
    e = np.eye(3)
    assert alignment(e, e) == pytest.approx(0.0)
    assert alignment(e[:2], e[1:]) == pytest.approx(2.0)  # orthogonal unit pairs: |a-b|^2 = 2
    assert alignment(5 * e[:1], -e[:1]) == pytest.approx(4.0)  # normalized first: antipodal


def test_uniformity_known_values():
    assert uniformity(np.array([[1.0, 0], [-3.0, 0]])) == pytest.approx(-8.0)  # d^2 = 4
    assert uniformity(2 * np.eye(3)) == pytest.approx(-4.0)  # every d^2 = 2
    # two identical points and one antipodal: log((1 + 2 e^-8) / 3)
    x = np.array([[1.0, 0], [1.0, 0], [-1.0, 0]])
    assert uniformity(x) == pytest.approx(np.log((1 + 2 * np.exp(-8)) / 3))
    with pytest.raises(ValueError):
        uniformity(np.eye(1))


def test_evaluate_geometry_on_fixture(tmp_path):
    write_sts(tmp_path, n=30)
    res = evaluate_geometry(CountingEncode(), tmp_path, split="test")
    assert set(res) == {"align", "uniform"}
    assert 0 <= res["align"] <= 4 and -4 <= res["uniform"] <= 0


def test_plot_writes_png(tmp_path):
    out = tmp_path / "geom.png"
    plot_geometry({"model-a": (-2.1, 0.3), "model-b": (-3.0, 0.5)}, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
