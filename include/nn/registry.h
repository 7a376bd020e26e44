/* nn/registry.h - layer, loss and optimizer kinds by name, made from settings.
 *
 * A model file or a spec names each layer by its kind ("dense") and lists its
 * settings ("units" = 2, ...). To read one, nn needs, for every name, a way to
 * make the object from settings; to write one, a way to get the settings back
 * from an object. A class is that pair of functions under a name. Registries
 * hold classes:
 *
 *   - NULL, wherever a registry is taken, means the built-in classes: every layer
 *     kind of dense.h, activation.h and dropout.h, every loss of loss.h and every
 *     optimizer of optim.h;
 *   - nn_registry_new makes a registry holding the built-in classes, to which a
 *     user adds classes for layers, losses or optimizers written outside nn, so
 *     that networks using them save, load and read from specs like any other.
 *
 * A registry is a plain value passed explicitly (no process-wide table), so two
 * libraries in one program cannot clash and reading needs no locking. It is not
 * changed by lookups: many threads may read through one registry at once.
 *
 * The built-in classes and their settings (types in brackets; "float" settings
 * also accept integers):
 *
 *   dense        units [uint, required; the positional value in a spec]
 *                init, init_a, init_b: the initialiser of weight and bias together
 *                  (init.h's name, e.g. "normal", "lesson", "torch_linear"; a and b
 *                  its two numbers, defaulting to nn_init_from_name's); or
 *                weight_init, weight_a, weight_b, bias_init, bias_a, bias_b for
 *                  each on its own (default torch_linear for both)
 *   leaky_relu   negative_slope [float, default 0.01; positional]
 *   elu          alpha [float, default 1; positional]
 *   softplus     beta [float, default 1; positional], threshold [float, default 20]
 *   identity, sigmoid, relu, tanh, gelu, gelu_tanh, silu, softmax, log_softmax: none
 *   dropout      p [float in [0, 1), default 0.5; positional], seed [uint, default 0],
 *                rng_state, rng_inc [uint]: the generator as it is after training
 *                  (written only when it has moved from the seed's start)
 *   losses       reduction ["mean" (default) or "sum"]; huber also delta, smooth_l1
 *                also beta [float, default 1]
 *   sgd          lr, momentum, dampening, weight_decay [float], nesterov [bool]
 *   adam, adamw  lr, beta1, beta2, eps, weight_decay [float], amsgrad [bool]
 *   rmsprop      lr, alpha, eps, weight_decay, momentum [float], centered [bool]
 *   adagrad      lr, lr_decay, weight_decay, initial_accumulator_value, eps [float]
 * The optimizers' defaults are torch's (optim.h); lr defaults to the kind's default
 * too. An unknown setting is an error (NN_ERR_INVALID_ARG naming it).
 */
#ifndef NN_REGISTRY_H
#define NN_REGISTRY_H

#include "nn/layer.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_layer_class nn_layer_class;
typedef struct nn_loss_class nn_loss_class;
typedef struct nn_optim_class nn_optim_class;

struct nn_layer_class {
    /* The kind's name: the ops->name of the layers it makes. Lower-case letters,
     * digits and '_', starting with a letter, at most 63 bytes. */
    const char *name;
    /* The setting a spec line's one bare value sets ("units" for "dense 2"), or NULL
     * when the kind takes none. */
    const char *positional;
    /* Makes a new, unbuilt layer from settings (the caller's). Should reject
     * settings it does not know (nn_settings_check_keys). Required. */
    nn_status (*create)(const nn_layer_class *cls, const nn_settings *settings, nn_layer **out);
    /* Adds the settings that make a layer like l to settings (empty on entry), such
     * that create() on them gives a layer computing exactly what l computes, given
     * the same parameters. Required. */
    nn_status (*describe)(const nn_layer_class *cls, const nn_layer *l, nn_settings *settings);
    void *user; /* for the functions above; nn never touches it */
};

struct nn_loss_class {
    const char *name; /* the ops->name of the losses it makes; rules as for layers */
    nn_status (*create)(const nn_loss_class *cls, const nn_settings *settings, nn_loss **out);
    nn_status (*describe)(const nn_loss_class *cls, const nn_loss *loss, nn_settings *settings);
    void *user;
};

struct nn_optim_class {
    const char *name; /* the ops->name of the optimizers it makes; rules as for layers */
    /* settings include "lr" when the rate was given. */
    nn_status (*create)(const nn_optim_class *cls, const nn_settings *settings, nn_optim **out);
    /* Hyper-parameters, "lr" (the rate in use, o->lr) among them. */
    nn_status (*describe)(const nn_optim_class *cls, const nn_optim *o, nn_settings *settings);
    /* The names of the per-parameter state buffers nn_optim_state may know (a
     * NULL-terminated list; NULL: none). A model file stores each buffer the
     * optimizer has with its settings, for every parameter tensor. */
    const char *const *state_names;
    /* Scalar state (step counters) into settings, and back after a setup, so that
     * training resumes exactly. Both optional (NULL: none). */
    nn_status (*get_state)(const nn_optim_class *cls, const nn_optim *o, nn_settings *state);
    nn_status (*set_state)(const nn_optim_class *cls, nn_optim *o, const nn_settings *state);
    void *user;
};

typedef struct nn_registry nn_registry; /* opaque */

/* A new registry holding the built-in classes; the caller's, released with
 * nn_registry_free. Errors: NN_ERR_NULL_ARG, NN_ERR_NOMEM. */
nn_status nn_registry_new(nn_registry **out);

/* Releases the registry (not the classes added to it). NULL is a no-op. */
void nn_registry_free(nn_registry *r);

/* Adds a class. The class is borrowed: it must outlive the registry. The name
 * must follow the rules above, be new to the registry (built-in names included,
 * for each of layers, losses and optimizers separately) and not be one of the spec
 * keywords (input, loss, optimizer, epochs, batch, batch_size, shuffle, seed,
 * schedule, clip_grad_norm, patience, restore_best).
 * An optimizer class's state_names must each be 1 to 255 bytes, listed once, at most
 * 64 of them, and a class with get_state needs set_state: nn_model_load could not
 * read its files otherwise.
 * Errors: NN_ERR_NULL_ARG (r, cls, its name, create or describe), NN_ERR_INVALID_ARG
 * (a bad or taken name; an optimizer class's state names or get_state as above),
 * NN_ERR_NOMEM. */
nn_status nn_registry_add_layer(nn_registry *r, const nn_layer_class *cls);
nn_status nn_registry_add_loss(nn_registry *r, const nn_loss_class *cls);
nn_status nn_registry_add_optim(nn_registry *r, const nn_optim_class *cls);

/* The class called name in r (NULL r: the built-ins), or NULL when there is none. */
const nn_layer_class *nn_registry_layer(const nn_registry *r, const char *name);
const nn_loss_class *nn_registry_loss(const nn_registry *r, const char *name);
const nn_optim_class *nn_registry_optim(const nn_registry *r, const char *name);

/* Makes an object of the class called name from settings (settings may be NULL
 * for none). The result is the caller's.
 * Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (no class of that name, quoted in the
 * message with the known ones, or settings the class rejects), NN_ERR_NOMEM. */
nn_status nn_registry_create_layer(const nn_registry *r, const char *name,
                                   const nn_settings *settings, nn_layer **out);
nn_status nn_registry_create_loss(const nn_registry *r, const char *name,
                                  const nn_settings *settings, nn_loss **out);
nn_status nn_registry_create_optim(const nn_registry *r, const char *name,
                                   const nn_settings *settings, nn_optim **out);

/* Adds the settings of an object to settings (cleared first), through the class
 * named by its ops->name. Errors: NN_ERR_NULL_ARG, NN_ERR_INVALID_ARG (no class of
 * that name: register one; or the class does not recognise the object, e.g. a
 * user-written layer that calls itself "dense"), NN_ERR_NOMEM. */
nn_status nn_registry_describe_layer(const nn_registry *r, const nn_layer *l,
                                     nn_settings *settings);
nn_status nn_registry_describe_loss(const nn_registry *r, const nn_loss *loss,
                                    nn_settings *settings);
nn_status nn_registry_describe_optim(const nn_registry *r, const nn_optim *o,
                                     nn_settings *settings);

#ifdef __cplusplus
}
#endif

#endif /* NN_REGISTRY_H */
