# %% [markdown]
# # The hitl Python SDK, end to end
#
# A notebook in "percent" format: open it in VS Code, PyCharm or Jupyter (with jupytext) and run it cell by cell,
# or run it whole with `python docs/sdk-example.py`. The test suite runs it against a live server
# (tests/sdk/test_example.py), so what you read here works.
#
# It needs a running server with a Celery worker, and an admin account:
#
# ```bash
# pip install './sdk[pandas]'
# export HITL_URL=http://localhost:8000 HITL_USERNAME=admin HITL_PASSWORD=...
# ```

# %%
import os
import random
import tempfile

from hitl_sdk import Client, Conflict, ValidationError

client = Client(os.environ["HITL_URL"], username=os.environ["HITL_USERNAME"], password=os.environ["HITL_PASSWORD"])
me = client.me()
print(f"Logged in as {me['username']} ({me['role']})")

# %% [markdown]
# ## A project
# `create_project` takes the contract's fields: name, task type, labels, and any other setting by keyword.

# %%
project = client.create_project("Movie reviews (SDK example)", "classification", ["pos", "neg"],
                                instructions="Is the review positive or negative?", overlap=1, gold_rate=0.0)
project

# %% [markdown]
# ## Import from any iterable
# `import_records` consumes a generator in constant memory: records are spooled to a temporary JSON Lines file
# and uploaded as one file. The import is all-or-nothing; large uploads run as a job on the server, which the
# SDK waits on. Records with `gold` carry an existing label.

# %%
POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "superb", "moving", "fun"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "weak", "messy", "bad"]


def reviews(n, labeled):
    rng = random.Random(7)
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        text = "a " + " and ".join(rng.sample(POSITIVE if label == "pos" else NEGATIVE, 3)) + " film"
        record = {"data": {"text": text}, "external_id": f"review-{i}"}
        if i < labeled:
            record["gold"] = {"label": label}
        yield record


result = project.import_records(reviews(60, labeled=40))
print(result)

# %% [markdown]
# A bad record stops the whole import, and the exception carries the server's message and the line.

# %%
try:
    project.import_records([{"data": {"text": "fine"}}, {"data": {"text": "odd"}, "gold": {"label": "meh"}}])
except ValidationError as error:
    print(error)
    print("bad line:", error.line, "| nothing imported; still", sum(1 for _ in project.items()), "items")

# %% [markdown]
# ## Label
# `next()` leases the next item (None when nothing is left), `annotate()` submits a value. Submitting twice
# raises `Conflict`.

# %%
leased = project.next()
item_id = leased["item"]["id"]
print(leased["item"]["data"]["text"])
project.annotate(item_id, {"label": "pos"}, lead_time=2.0)
try:
    project.annotate(item_id, {"label": "neg"})
except Conflict as error:
    print("409:", error.detail)
print(project.item(item_id)["final"])

# %% [markdown]
# ## Train, activate, pre-label
# Jobs are waited on with a progress bar; a failed job raises `JobFailed` with the job's error.

# %%
job = project.train(progress=True)
model = project.models()[0]
print(job, model["version"], model["metrics"]["accuracy"], model["metrics"]["macro_f1"])
project.activate(model["id"])
prelabel = project.prelabel(progress=True)
print(prelabel)

# %% [markdown]
# ## Statistics

# %%
stats = project.stats()
print(sorted(stats))

# %% [markdown]
# ## Export
# `export()` streams the records (JSON Lines) one dict at a time; `export_to()` writes any server format to a file;
# `to_pandas()` gives a flat DataFrame (`data.text`, `label`, `final_source`, `prediction_label`, ...).

# %%
records = list(project.export())
print(len(records), records[0]["data"], records[0]["final"])

with tempfile.TemporaryDirectory() as folder:
    written = project.export_to(os.path.join(folder, "reviews.csv"), format="csv")
    print(f"{written} bytes of CSV")

frame = project.to_pandas()
print(frame[["id", "data.text", "status", "label", "final_source", "prediction_label", "prediction_confidence"]]
      .head())
print(frame["final_source"].value_counts(dropna=False).to_dict())

# %% [markdown]
# Only the items with a final value, by source:

# %%
gold = project.to_pandas(only_final=True, source="gold")
print(len(gold), "gold labels")
client.close()
