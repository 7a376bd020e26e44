/* nn/nn.h - the whole public API of nn in one include.
 *
 * nn is a small neural-network library in C11: float32 tensors, BLAS-backed
 * kernels, layers, losses and optimizers behind operation tables, and
 * sequential networks that train in batches without allocating per step.
 */
#ifndef NN_NN_H
#define NN_NN_H

#include "nn/version.h"
#include "nn/status.h"
#include "nn/alloc.h"
#include "nn/tensor.h"
#include "nn/rng.h"
#include "nn/kernel.h"
#include "nn/init.h"
#include "nn/layer.h"
#include "nn/dense.h"
#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "nn/metrics.h"
#include "nn/net.h"
#include "nn/scaler.h"
#include "nn/dataset.h"
#include "nn/csv.h"
#include "nn/idx.h"
#include "nn/evaluate.h"
#include "nn/settings.h"
#include "nn/registry.h"
#include "nn/model.h"
#include "nn/spec.h"

#endif /* NN_NN_H */
