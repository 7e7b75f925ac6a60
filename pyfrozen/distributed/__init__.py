"""Data-parallel training over MPI: ``pip install "pyfrozen[mpi]"``, then
``mpiexec -n N python train.py`` with

    strategy = pyfrozen.distributed.DataParallel()
    with strategy.scope():
        model = ...
        model.compile(...)
    model.fit(x, y, batch_size=64)  # the global batch: 64 / N samples per rank

Frozen weights send nothing, masked weights only their trainable elements;
``SyncBatchNormalization`` normalises over the global batch. Running on a
cluster (hostfiles, Slurm, threads per rank): docs/distributed.md. Importing this
package does not import mpi4py; making a strategy does.
"""

from pyfrozen.distributed.comm import INSTALL_HINT
from pyfrozen.distributed.strategy import DataParallel
from pyfrozen.distributed.sync_batch_norm import SyncBatchNormalization

__all__ = ["INSTALL_HINT", "DataParallel", "SyncBatchNormalization"]
