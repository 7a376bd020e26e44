/* layer.c - the generic part of the layer interface. */
#include <string.h>

#include "internal.h"
#include "nn/layer.h"

nn_status nn_layer_new(const nn_layer_ops *ops, void *impl, nn_layer **out)
{
    NN_CHECK_NULL(out);
    *out = NULL;
    NN_CHECK_NULL(ops);
    if (ops->name == NULL || ops->build == NULL || ops->forward == NULL || ops->backward == NULL)
        return nn_error(NN_ERR_NULL_ARG,
                        "nn_layer_new: layer ops '%s' lack name, build, forward or backward",
                        ops->name ? ops->name : "(unnamed)");
    nn_layer *l = nn_xalloc(sizeof *l);
    if (l == NULL)
        return nn_error(NN_ERR_NOMEM, "nn_layer_new: cannot allocate a '%s' layer", ops->name);
    memset(l, 0, sizeof *l);
    l->ops = ops;
    l->impl = impl;
    *out = l;
    return NN_OK;
}

void nn_layer_free(nn_layer *l)
{
    if (l == NULL)
        return;
    if (l->ops->destroy != NULL)
        l->ops->destroy(l);
    nn_xfree(l);
}

const char *nn_layer_name(const nn_layer *l) { return l != NULL ? l->ops->name : ""; }

size_t nn_layer_param_count(const nn_layer *l)
{
    size_t n = 0;
    if (l != NULL)
        for (size_t i = 0; i < l->n_params; i++)
            n += l->params[i].size;
    return n;
}
