"""The reference implementations of netchaos score's ML metrics, run by tests/it/score/reference.rs.

Usage: reference.py MODE FIXTURES.json RESULTS.json

FIXTURES.json is a list of fixtures {labels, predicted, scores, span, max_window, thresholds,
range_cases} (0/1 lists, a float list, a [start, end) pair, two ints, a list of {bias,
cardinality, alpha}); RESULTS.json gets one result per
fixture, in order. A figure the reference does not define (it raises, or returns NaN) is null,
with the error's type in an "error" field. Results go to a file, not stdout, since some of the
reference code prints.

Modes and their references:
  point        sklearn precision_recall_fscore_support(average="binary", zero_division=0), and
               the same after tadpak.pak(k=0) (the classic point adjustment)
  range        prts.ts_recall / prts.ts_precision for each of the fixture's range_cases; where a side
               has no range, prts's own _update_recall / _update_precision (its public functions
               raise an IndexError on an all-zero series)
  affiliation  vus.affiliation.metrics.pr_from_events over convert_vector_to_events
  curves       vus.utils.metrics.metricor().metric_PR (AUC_PR) and
               sklearn.metrics.average_precision_score
  vus          vus.utils.metrics.metricor().RangeAUC_volume_opt (what generate_curve and
               get_metrics use for VUS_ROC and VUS_PR)
"""

import json
import math
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")

def finite_or_none(value):
    value = float(value)
    return None if math.isnan(value) else value


def point(fixture):
    from sklearn.metrics import precision_recall_fscore_support
    from tadpak.pak import pak

    labels = np.array(fixture["labels"], dtype=int)
    predicted = np.array(fixture["predicted"], dtype=int)

    def prf(prediction):
        precision, recall, f1, _ = precision_recall_fscore_support(labels, prediction, average="binary", zero_division=0)
        return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}

    adjusted = pak(predicted.astype(float), labels, 0.5, 0).astype(int)
    return {"point": prf(predicted), "adjusted": prf(adjusted)}


def range_based(fixture):
    """Recall (at the case's alpha) and precision (alpha 0) for each of the fixture's range_cases."""
    import prts
    from prts.time_series_metrics.precision import TimeSeriesPrecision
    from prts.time_series_metrics.recall import TimeSeriesRecall

    labels = np.array(fixture["labels"], dtype=int)
    predicted = np.array(fixture["predicted"], dtype=int)
    both = labels.any() and predicted.any()
    real, pred = as_inclusive_ranges(labels), as_inclusive_ranges(predicted)
    out = []
    for case in fixture["range_cases"]:
        alpha, cardinality, bias = case["alpha"], case["cardinality"], case["bias"]
        if both:
            recall = prts.ts_recall(labels, predicted, alpha, cardinality, bias)
            precision = prts.ts_precision(labels, predicted, 0.0, cardinality, bias)
        else:
            recall = TimeSeriesRecall(alpha, cardinality, bias)._update_recall(real, pred)
            precision = TimeSeriesPrecision(0.0, cardinality, bias)._update_precision(real, pred)
        out.append({"recall": float(recall), "precision": float(precision)})
    return out


def as_inclusive_ranges(vector):
    """The [first, last] index pairs of the runs of ones, as prts's _prepare_data makes them."""
    ranges = []
    start = None
    for index, value in enumerate(list(vector) + [0]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            ranges.append([start, index - 1])
            start = None
    return np.array(ranges, dtype=int).reshape(-1, 2)


def affiliation(fixture):
    from vus.affiliation.generics import convert_vector_to_events
    from vus.affiliation.metrics import pr_from_events

    events_gt = convert_vector_to_events(fixture["labels"])
    events_pred = convert_vector_to_events(fixture["predicted"])
    try:
        result = pr_from_events(events_pred, events_gt, tuple(fixture["span"]))
    except (ValueError, IndexError) as error:
        return {"precision": None, "recall": None, "error": type(error).__name__}
    return {"precision": finite_or_none(result["Affiliation_Precision"]), "recall": finite_or_none(result["Affiliation_Recall"])}


def curves(fixture):
    from sklearn.metrics import average_precision_score
    from vus.utils.metrics import metricor

    labels = np.array(fixture["labels"], dtype=int)
    scores = np.array(fixture["scores"], dtype=float)
    _, _, auc_pr = metricor().metric_PR(labels, scores)
    return {"auc_pr": finite_or_none(auc_pr), "average_precision": finite_or_none(average_precision_score(labels, scores))}


def vus(fixture):
    from vus.utils.metrics import metricor

    labels = np.array(fixture["labels"], dtype=int)
    scores = np.array(fixture["scores"], dtype=float)
    try:
        result = metricor().RangeAUC_volume_opt(labels, scores, fixture["max_window"], fixture["thresholds"])
    except IndexError as error:
        return {"roc": None, "pr": None, "error": type(error).__name__}
    return {"roc": finite_or_none(result[4]), "pr": finite_or_none(result[5])}


MODES = {"point": point, "range": range_based, "affiliation": affiliation, "curves": curves, "vus": vus}

if __name__ == "__main__":
    mode, fixtures_path, results_path = sys.argv[1:4]
    with open(fixtures_path) as file:
        fixtures = json.load(file)
    results = [MODES[mode](fixture) for fixture in fixtures]
    with open(results_path, "w") as file:
        json.dump(results, file)
