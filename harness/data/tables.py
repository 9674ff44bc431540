"""``data=table``: a table of your own (CSV or Parquet) as a data set.

``data.path`` names the file and ``data.target`` the column to predict; every other
column is a feature. Numeric columns are used as they are; the others (text, category,
bool) are one-hot encoded with scikit-learn's ``OneHotEncoder`` (its categories learnt on
every row of the table: a category seen only in test rows still gets its column). The
task is ``data.task``, or inferred from the target where that is unambiguous, and the run
says which (``data_info.task_inferred``):

- a target with two distinct values: binary (classes in sorted order: the second is 1);
- a non-numeric target with more: multiclass (classes in sorted order);
- a numeric target with a non-integer value, or more than :data:`MAX_INFERRED_CLASSES`
  distinct values: regression;
- an integer target with 3 to :data:`MAX_INFERRED_CLASSES` values is ambiguous (counts or
  classes?): set ``data.task``.

Missing values are refused with the columns and counts named, unless
``data.missing=drop`` (rows with any missing value dropped) or ``mean`` (numeric features
get the column mean, others the most frequent value, scikit-learn's ``SimpleImputer``;
rows whose target is missing are dropped). Then the harness splits, standardises and
corrupts the table like every bundled data set.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from harness.data.sources import Pool, source, subsample
from harness.errors import HarnessError

MAX_INFERRED_CLASSES = 20
MIN_CLASS_ROWS = 5  # a class needs about one row in each of the 60/20/20 splits
FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
TASKS = ("auto", "regression", "binary", "multiclass")
MISSING = ("refuse", "drop", "mean")


@functools.lru_cache(maxsize=4)
def _read(path: str, mtime: float):
    """The table at ``path`` as a DataFrame (cached by path and modification time)."""
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise HarnessError(f"data.path={path} is not a CSV or Parquet file (it ends in "
                           f"{suffix or 'nothing'}); give a .csv or .parquet file.")
    try:
        return pd.read_csv(path) if FORMATS[suffix] == "CSV" else pd.read_parquet(path)
    except Exception as err:  # pandas and pyarrow raise many types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HarnessError(f"data.path={path} cannot be read as {FORMATS[suffix]}: "
                           f"{first}.") from None


def read_table(path: str | None):
    if path is None:
        raise HarnessError("data=table needs data.path=<file.csv|.parquet> and "
                           "data.target=<column>.")
    if not os.path.isfile(path):
        raise HarnessError(f"data.path={path} does not exist (relative paths start at "
                           f"{os.getcwd()}); give a .csv or .parquet file.")
    return _read(os.path.abspath(path), os.path.getmtime(path))


def _target(df, target: str | None):
    if target is None:
        raise HarnessError(f"data=table needs data.target=<column>; the columns of the table: "
                           f"{', '.join(map(str, df.columns))}.")
    if target not in df.columns:
        columns = [str(c) for c in df.columns]
        sep = next((c for c in (";", "\t", "|") if len(columns) == 1 and c in columns[0]),
                   None)
        hint = (f" (one column whose name holds {sep!r}: a CSV file must separate its "
                "columns with commas)" if sep else "")
        listed = ", ".join(columns[:30]) + (f", ... ({len(columns)} columns)"
                                            if len(columns) > 30 else "")
        raise HarnessError(f"data.target={target} is not a column of the table; its "
                           f"columns: {listed}{hint}.")
    return df[target]


def infer_task(column) -> tuple[str, str]:
    """(task, why) for a target column (see the module docstring)."""
    import pandas as pd

    values = column.dropna()
    distinct = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if distinct == 2:
        return "binary", "2 distinct values"
    if not numeric:
        return "multiclass", f"{distinct} distinct non-numeric values"
    if not np.all(np.equal(np.mod(values.to_numpy(dtype=float), 1), 0)):
        return "regression", "non-integer numbers"
    if distinct > MAX_INFERRED_CLASSES:
        return "regression", f"{distinct} distinct integers"
    raise HarnessError(f"data.target={column.name} holds {distinct} distinct integers: "
                       "counts or classes? set data.task=regression or data.task=multiclass.")


def table_task(*, path: str | None = None, target: str | None = None, task: str = "auto",
               **_: object) -> str:
    """The task of ``data=table`` with these keys, before the data are built."""
    if task != "auto":
        return task
    df = read_table(path)
    return infer_task(_target(df, target))[0]


@source("table", None, {"n_samples": "[10, inf)", "task": TASKS, "missing": MISSING},
        task_of=table_task,
        docs={"path": "the table: a .csv or .parquet file",
              "target": "the column to predict",
              "task": "auto | regression | binary | multiclass",
              "missing": "refuse | drop | mean (rows or values with a missing value)"})
def table(rng, *, path: str | None = None, target: str | None = None, task: str = "auto",
          missing: str = "refuse", n_samples: int | None = None) -> Pool:
    """A table of your own (CSV or Parquet): ``data.path``, ``data.target``; see
    :mod:`harness.data.tables`."""
    import pandas as pd

    from harness.startup import import_settled

    impute, preprocessing = import_settled("sklearn.impute", "sklearn.preprocessing")
    SimpleImputer, OneHotEncoder = impute.SimpleImputer, preprocessing.OneHotEncoder

    df = read_table(path)
    y = _target(df, target)
    inferred = None
    if task == "auto":
        task, why = infer_task(y)
        inferred = f"{task}, from data.target={target} ({why})"
    features = df.drop(columns=[target])
    if features.shape[1] == 0:
        raise HarnessError(f"the table {path} has no column besides data.target={target}; "
                           "a data set needs features.")
    gaps = df.isna().sum()
    gaps = gaps[gaps > 0]
    if len(gaps) and missing == "refuse":
        listed = ", ".join(f"{c} ({n})" for c, n in gaps.items())
        raise HarnessError(f"the table {path} has missing values: {listed}; set "
                           "data.missing=drop (drop those rows) or data.missing=mean "
                           "(impute features; rows without a target are dropped).")
    keep = df.notna().all(axis=1) if missing == "drop" else y.notna()
    features, y = features[keep.to_numpy()], y[keep.to_numpy()]
    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])
               and not pd.api.types.is_bool_dtype(features[c])]
    other = [c for c in features.columns if c not in numeric]
    parts = []
    if numeric:
        X_num = features[numeric].to_numpy(dtype=np.float64)
        if missing == "mean" and np.isnan(X_num).any():
            X_num = SimpleImputer(strategy="mean").fit_transform(X_num)
        parts.append(X_num)
    if other:
        X_cat = features[other].astype("object").where(features[other].notna(), None)
        if missing == "mean":
            X_cat = SimpleImputer(strategy="most_frequent", missing_values=None) \
                .fit_transform(X_cat)
        parts.append(OneHotEncoder(sparse_output=False, handle_unknown="ignore")
                     .fit_transform(np.asarray(X_cat, dtype=object).astype(str)))
    X = np.concatenate(parts, axis=1)
    info = {"table": str(path), "n_columns_in": int(df.shape[1] - 1),
            "one_hot_columns": other}
    if inferred:
        info["task_inferred"] = inferred
    if task == "regression":
        if not (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
            raise HarnessError(f"data.target={target} is not numeric ({y.dtype}); regression "
                               "needs numbers: choose data.task=binary or multiclass, or a "
                               "numeric column.")
        X, yv = subsample("table", X, y.to_numpy(dtype=np.float64), n_samples, rng)
        return Pool(X, yv, task=task, info=info)
    classes, codes = np.unique(y.astype(str).to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise HarnessError(f"data.target={target} has one class ({classes[0]!r}); "
                           "classification needs at least two.")
    if task == "binary" and len(classes) != 2:
        raise HarnessError(f"data.target={target} has {len(classes)} classes; binary needs "
                           "exactly two (data.task=multiclass for more).")
    counts = np.bincount(codes)
    small = [(c, int(k)) for c, k in zip(classes, counts, strict=True) if k < MIN_CLASS_ROWS]
    if small:
        listed = ", ".join(f"{c!r} ({k} rows)" for c, k in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        numeric = pd.to_numeric(y, errors="coerce").notna().all()
        hint = (f"; a numeric target with {len(classes)} distinct values looks like "
                "regression (data.task=regression)" if numeric and len(classes) > 20 else "")
        raise HarnessError(f"data.target={target}: {len(small)} of {len(classes)} classes "
                           f"have fewer than {MIN_CLASS_ROWS} rows ({listed}{more}), too few "
                           f"for the train/val/test split; drop or merge them{hint}.")
    info["classes"] = [str(c) for c in classes]
    X, yv = subsample("table", X, codes.astype(np.int64), n_samples, rng)
    return Pool(X, yv, n_classes=len(classes), task=task, info=info)
