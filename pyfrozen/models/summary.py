"""model.summary(): the layer table and the Keras footer, as text and as numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.layer import Layer


@dataclass
class LayerRow:
    """One line of the table."""

    name: str
    type_name: str
    output_shape: str
    params: int
    trainable: str  # "Y", "N", "-", or "12,288 of 65,536"
    depth: int = 0
    note: str = ""


@dataclass
class ModelSummary:
    """The numbers of ``model.summary()``; ``str()`` gives the printed text.

    Attributes:
        total_params, trainable_params, non_trainable_params: as Keras's footer
            (elements frozen by a freeze mask count as non-trainable).
        total_bytes, trainable_bytes, non_trainable_bytes: the same in bytes.
        optimizer_params: optimizer state size once an optimizer holds any (not
            added to the total), else None.
        rows: the table's rows.
    """

    model_name: str
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    total_bytes: int = 0
    trainable_bytes: int = 0
    non_trainable_bytes: int = 0
    optimizer_params: int | None = None
    optimizer_bytes: int = 0
    show_trainable: bool = True

    def __str__(self) -> str:
        return render(self)

    def __repr__(self) -> str:
        return (f"<ModelSummary {self.model_name!r}: total {self.total_params:,}, trainable "
                f"{self.trainable_params:,}, non-trainable {self.non_trainable_params:,}>")


def readable_size(nbytes: float) -> str:
    """Keras's byte formatting: ``12.32 MB`` (1024-based, two decimals)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _trainable_text(layer: Layer) -> str:
    weights = layer.weights
    if not weights:
        return "-"
    trainable = sum(w.trainable_count() for w in layer.trainable_weights)
    can_train = sum(w.size for w, created in _created(layer) if created)
    if trainable == 0:
        return "N"
    if trainable == can_train:
        return "Y"
    return f"{trainable:,} of {can_train:,}"  # of the weights that can train (not BN stats)


def _created(layer: Layer) -> list[tuple[Any, bool]]:
    pairs = list(zip(layer._params, layer._created_trainable, strict=True))
    for child in layer._tracked:
        pairs += _created(child)
    return pairs


def _shape_text(model: Any, layer: Layer) -> str:
    graph = getattr(model, "_graph", None)
    if type(layer).__name__ == "InputLayer":
        return str(layer.batch_shape)
    if graph is not None:
        for node in graph.nodes:
            if node.layer is layer:
                shapes = [t.shape for t in node.outputs]
                return str(shapes[0]) if len(shapes) == 1 else str(shapes)
    return "?"


def _call_training(model: Any, layer: Layer, inherited: bool | None) -> bool | None:
    """The ``training`` value every call of ``layer`` inside ``model`` runs with, or None
    when it depends on how the model is called (or its calls disagree).

    A call node records ``training`` only when it was given; an explicit value wins over
    the one inherited from the enclosing call (Keras 3), so a base called with
    ``training=False`` runs everything inside it in inference mode, whatever the outer
    model is called with.
    """
    graph = getattr(model, "_graph", None)
    if graph is None:
        return inherited
    values = set()
    for node in graph.nodes:
        if node.layer is layer:
            given = node.kwargs.get("training")
            values.add(inherited if given is None else bool(given))
    if not values:  # not called in this graph (an input layer)
        return inherited
    return values.pop() if len(values) == 1 else None


def _note(layer: Layer, training: bool | None) -> str:
    """What the layer runs, when its graph fixes ``training`` (else the layer's own note)."""
    note = layer.summary_note() if hasattr(layer, "summary_note") else ""
    if training is None:
        return note or ""
    if hasattr(layer, "_graph"):
        return f"called with training={training}"
    if isinstance(layer, BatchNormalization) and layer.trainable:
        # A frozen BN always runs inference; a trainable one does what its call says.
        mode = "batch stats" if training else "inference"
        return f"BN: {mode} (called with training={training})"
    return note or ""


def _rows(model: Any, depth: int, expand: bool, show_trainable: bool,
          inherited: bool | None = None) -> list[LayerRow]:
    rows = []
    for layer in model.layers:
        training = _call_training(model, layer, inherited)
        rows.append(LayerRow(
            name=layer.name,
            type_name="Functional" if type(layer).__name__ == "Model" else type(layer).__name__,
            output_shape=_shape_text(model, layer),
            params=layer.count_params() if layer.built else 0,
            trainable=_trainable_text(layer), depth=depth, note=_note(layer, training)))
        if expand and hasattr(layer, "_graph") and layer is not model:
            rows += _rows(layer, depth + 1, expand, show_trainable, training)
    return rows


def summarize(model: Any, show_trainable: bool = True, expand_nested: bool = False
              ) -> ModelSummary:
    """The ModelSummary of ``model`` (built or not: an unbuilt model has no params yet)."""
    weights = model.weights
    trainable = model.trainable_weights
    s = ModelSummary(model_name=model.name, show_trainable=show_trainable)
    s.rows = _rows(model, 0, expand_nested, show_trainable)
    s.total_params = sum(w.size for w in weights)
    s.total_bytes = sum(w.data.nbytes for w in weights)
    s.trainable_params = sum(w.trainable_count() for w in trainable)
    s.trainable_bytes = sum(w.trainable_count() * w.data.itemsize for w in trainable)
    s.non_trainable_params = s.total_params - s.trainable_params
    s.non_trainable_bytes = s.total_bytes - s.trainable_bytes
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "state_arrays"):
        arrays = optimizer.state_arrays()
        if arrays:
            s.optimizer_params = sum(a.size for a in arrays)
            s.optimizer_bytes = sum(a.nbytes for a in arrays)
    return s


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: list[str], edge: str, sep: str) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return f"{edge} " + f" {sep} ".join(parts) + f" {edge}"

    bar = ["━" * (w + 2) for w in widths]
    out = ["┏" + "┳".join(bar) + "┓", line(headers, "┃", "┃"), "┡" + "╇".join(bar) + "┩"]
    out += [line(r, "│", "│") for r in rows]
    out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return out


def render(s: ModelSummary) -> str:
    """The printed form: Keras 3's table layout and footer."""
    headers = ["Layer (type)", "Output Shape", "Param #"]
    if s.show_trainable:
        headers.append("Trainable")
    rows = []
    for r in s.rows:
        indent = "  " * r.depth + ("└ " if r.depth else "")
        cells = [f"{indent}{r.name} ({r.type_name})", r.output_shape, f"{r.params:,}"]
        if s.show_trainable:
            cells.append(r.trainable + (f" ({r.note})" if r.note else ""))
        rows.append(cells)
    lines = [f'Model: "{s.model_name}"', *_table(headers, rows, right={2})]
    lines.append(f" Total params: {s.total_params:,} ({readable_size(s.total_bytes)})")
    lines.append(f" Trainable params: {s.trainable_params:,} "
                 f"({readable_size(s.trainable_bytes)})")
    lines.append(f" Non-trainable params: {s.non_trainable_params:,} "
                 f"({readable_size(s.non_trainable_bytes)})")
    if s.optimizer_params is not None:
        lines.append(f" Optimizer params: {s.optimizer_params:,} "
                     f"({readable_size(s.optimizer_bytes)})")
    return "\n".join(lines)
