"""Saves a small scikit-learn model as an MLflow model, for the real-server tests.

Usage: python mlflow_model.py OUT_DIR   (OUT_DIR must not exist)
Prints the JSON body of one request the model's scoring server accepts.
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")

import mlflow.sklearn  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

X, y = load_iris(return_X_y=True, as_frame=True)
X = X.astype("float64")
model = LogisticRegression(max_iter=500).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(1))
print(json.dumps({"dataframe_split": X.head(1).to_dict(orient="split", index=False)}))
