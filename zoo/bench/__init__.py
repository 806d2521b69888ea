"""The bench: render the collections, train the probe and the experts, measure transfer.

Stages live in :mod:`zoo.bench.build`; the sizes in :mod:`zoo.bench.sizes`.
Nothing here touches the registry directly except through the callbacks
:mod:`zoo.api.bench` passes in.
"""
