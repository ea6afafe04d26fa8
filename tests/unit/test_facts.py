"""facts.py: channels and class count follow from the stored shape and the class names."""

from fashion_resnet.data.facts import DataFacts


def test_channels_from_the_stored_shape():
    grey = DataFacts(("a", "b"), (28, 28), None, None, 10, 2)
    colour = DataFacts(("a", "b", "c"), (3, 16, 16), (0.5,) * 3, (0.2,) * 3, 10, 2)
    assert (grey.channels, grey.num_classes) == (1, 2)
    assert (colour.channels, colour.num_classes) == (3, 3)
