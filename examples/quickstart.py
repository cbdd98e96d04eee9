"""Encode, compare and search sentences with a model (default: the embedded all-MiniLM-L6-v2)."""

import sys

from simcse import SimCSE

model = SimCSE(sys.argv[1] if len(sys.argv) > 1 else "sentence-transformers/all-MiniLM-L6-v2")
print(f"model: {model.model_name}")
pairs = [
    ("A man is playing a guitar.", "A person plays a musical instrument."),
    ("A man is playing a guitar.", "The stock market fell sharply today."),
    ("A woman is slicing an onion.", "Someone is cutting vegetables."),
]
for a, b in pairs:
    print(f"{model.similarity(a, b)[0, 0]:.3f}  {a!r} ~ {b!r}")

corpus = [
    "A man is eating food.", "A man is riding a horse.", "Two dogs play in the snow.",
    "A woman is playing violin.", "The new movie is awesome.", "A cat sleeps on the sofa.",
]
model.build_index(corpus)
for query in ["Someone is making music.", "Animals outdoors in winter."]:
    hits = model.search(query, top_k=2, threshold=0.0)
    print(f"search {query!r}: " + ", ".join(f"{t!r} ({s:.3f})" for t, s in hits))
