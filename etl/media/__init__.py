"""The media floor: decoding audio and video, packing arrays, and the filesystem questions
(is this local? which URI? which bytes?) answered once for the engine, the corpus adapters and
the extractors alike.

It is the ground floor: it imports nothing of mer-etl's, so every other floor may import it
(tests/test_architecture.py checks that no module imports upward).
"""
