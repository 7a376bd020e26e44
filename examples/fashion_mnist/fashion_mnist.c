/* fashion_mnist.c - a 784-256-128-10 ReLU network on Fashion-MNIST, trained with nn.
 *
 * Zalando's Fashion-MNIST: 60 000 training and 10 000 test images of clothes,
 * 28x28 grey levels, 10 classes, in the IDX format (gzip). Debian's package
 * dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist.
 *
 * The recipe (the same as torch_fashion.py, for comparison):
 *   pixels / 255; 10% of the training images held out for validation (seeded);
 *   dense 256 + ReLU, dense 128 + ReLU, dense 10, weights initialised as
 *   torch.nn.Linear; softmax cross-entropy on class indices; Adam, lr 1e-3
 *   decaying to 0 along a cosine over the epochs (torch's CosineAnnealingLR);
 *   shuffled mini-batches of 128; 10 epochs.
 *
 *   nn_fashion_mnist                       train and test, progress on stderr
 *   nn_fashion_mnist --history h.csv       also write the per-epoch history
 *   nn_fashion_mnist --threads 1 --json    one JSON line of results at the end
 *   nn_fashion_mnist --data DIR            the four .gz (or unpacked) files in DIR
 */
#define _POSIX_C_SOURCE 200809L /* access */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nn/nn.h>

#define PROG "nn_fashion_mnist"

/* Example code may stop at the first error; library code never does. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        nn_status st_ = (call);                                                                    \
        if (st_ != NN_OK) {                                                                        \
            fprintf(stderr, PROG ": %s: %s\n", nn_strerror(st_), nn_last_error());                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CLASSES 10
static const char *const class_names[CLASSES] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, N_FILES };
static const char *const file_stems[N_FILES] = {"train-images-idx3-ubyte",
                                                "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                                "t10k-labels-idx1-ubyte"};
static const char *const file_options[N_FILES] = {"--train-images", "--train-labels",
                                                  "--test-images", "--test-labels"};

typedef struct options {
    const char *dir;
    const char *files[N_FILES]; /* explicit paths, or NULL to look in dir */
    size_t epochs, batch, limit;
    unsigned long long seed;
    int threads; /* 0: leave BLAS as it is */
    double lr, val_fraction;
    const char *history;
    const char *save; /* model file to write after training, or NULL */
    nn_progress progress;
    int json;
    int cosine; /* 1: cosine decay of the learning rate over the epochs */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [--data DIR] [--train-images F --train-labels F --test-images F\n"
            "                        --test-labels F] [--epochs N] [--batch N] [--lr X] [--val X]\n"
            "                        [--seed N] [--threads N] [--limit N] [--history FILE]\n"
            "                        [--schedule cosine|constant] [--progress auto|bar|lines|off]\n"
            "                        [--json]\n"
            "Trains a 784-256-128-10 ReLU network on Fashion-MNIST with Adam and reports the\n"
            "test accuracy and confusion matrix. The data files are looked for in DIR\n"
            "(default " DEFAULT_DIR ", from the Debian package\n"
            "dataset-fashion-mnist), as .gz or unpacked, unless given one by one.\n"
            "  --epochs N     passes over the training set (10)\n"
            "  --batch N      mini-batch size (128)\n"
            "  --lr X         Adam's learning rate (0.001)\n"
            "  --schedule S   cosine (decay to 0 over the epochs) or constant (cosine)\n"
            "  --val X        fraction of the training images held out for validation (0.1)\n"
            "  --seed N       seeds the split, the initial weights and the shuffling (1)\n"
            "  --threads N    BLAS threads (default: OpenBLAS's own choice)\n"
            "  --limit N      use only the first N training images (quick runs)\n"
            "  --history FILE write the per-epoch history as CSV (tools/plot_history.sh draws it)\n"
            "  --save FILE    save the trained model (with Adam's state, so training can resume;\n"
            "                 nn info / nn predict read it)\n"
            "  --progress M   auto (a bar on a terminal, lines otherwise), bar, lines or off\n"
            "  --json         print one JSON line of results at the end (for comparisons)\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v == 0)
        return 0;
    *out = (size_t)v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static void bad_value(const char *opt, const char *value)
{
    fprintf(stderr, PROG ": %s: bad value '%s'\n", opt, value);
    exit(2);
}

static options parse_args(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    o.dir = DEFAULT_DIR;
    o.epochs = 10;
    o.batch = 128;
    o.seed = 1;
    o.lr = 1e-3;
    o.val_fraction = 0.1;
    o.progress = NN_PROGRESS_AUTO;
    o.cosine = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1; /* consumes the value */
        size_t n;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
            used = 0;
        } else if (v == NULL) {
            usage(stderr);
            exit(2);
        } else if (strcmp(a, "--data") == 0) {
            o.dir = v;
        } else if (strcmp(a, "--epochs") == 0) {
            /* at most a million: the history has one entry per epoch */
            if (!parse_size(v, &o.epochs) || o.epochs > 1000000)
                bad_value(a, v);
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_size(v, &o.batch))
                bad_value(a, v);
        } else if (strcmp(a, "--limit") == 0) {
            if (!parse_size(v, &o.limit))
                bad_value(a, v);
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_size(v, &n) || n > 1024)
                bad_value(a, v);
            o.threads = (int)n;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_size(v, &n) && strcmp(v, "0") != 0)
                bad_value(a, v);
            o.seed = strcmp(v, "0") == 0 ? 0 : n;
        } else if (strcmp(a, "--lr") == 0) {
            if (!parse_double(v, &d) || d <= 0)
                bad_value(a, v);
            o.lr = d;
        } else if (strcmp(a, "--val") == 0) {
            if (!parse_double(v, &d) || d <= 0 || d >= 1)
                bad_value(a, v);
            o.val_fraction = d;
        } else if (strcmp(a, "--schedule") == 0) {
            if (strcmp(v, "cosine") != 0 && strcmp(v, "constant") != 0)
                bad_value(a, v);
            o.cosine = strcmp(v, "cosine") == 0;
        } else if (strcmp(a, "--history") == 0) {
            o.history = v;
        } else if (strcmp(a, "--save") == 0) {
            o.save = v;
        } else if (strcmp(a, "--progress") == 0) {
            static const char *const modes[] = {"off", "auto", "lines", "bar"};
            static const nn_progress values[] = {NN_PROGRESS_OFF, NN_PROGRESS_AUTO,
                                                 NN_PROGRESS_LINES, NN_PROGRESS_BAR};
            int k = 0;
            while (k < 4 && strcmp(v, modes[k]) != 0)
                k++;
            if (k == 4)
                bad_value(a, v);
            o.progress = values[k];
        } else {
            int k = 0;
            while (k < N_FILES && strcmp(a, file_options[k]) != 0)
                k++;
            if (k == N_FILES) {
                usage(stderr);
                exit(2);
            }
            o.files[k] = v;
        }
        i += used;
    }
    return o;
}

/* Finds file k: the explicit path, or DIR/stem.gz, or DIR/stem unpacked. */
static const char *find_file(const options *o, int k, char *buf, size_t size)
{
    if (o->files[k] != NULL)
        return access(o->files[k], R_OK) == 0 ? o->files[k] : NULL;
    snprintf(buf, size, "%s/%s.gz", o->dir, file_stems[k]);
    if (access(buf, R_OK) == 0)
        return buf;
    snprintf(buf, size, "%s/%s", o->dir, file_stems[k]);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static nn_layer *dense(size_t units)
{
    nn_dense_params p = nn_dense_default_params(units); /* torch.nn.Linear's initialisation */
    nn_layer *l;
    CHECK(nn_dense_new(&p, &l));
    return l;
}

static nn_layer *relu(void)
{
    nn_layer *l;
    CHECK(nn_relu_new(&l));
    return l;
}

static void print_confusion(const size_t *m)
{
    double precision[CLASSES], recall[CLASSES];
    CHECK(nn_confusion_scores(m, CLASSES, precision, recall, NULL));
    printf("\nConfusion matrix (rows: true class, columns: predicted)\n%12s", "");
    for (int j = 0; j < CLASSES; j++)
        printf(" %5d", j);
    printf("  recall\n");
    for (int i = 0; i < CLASSES; i++) {
        printf("%d %-10s", i, class_names[i]);
        for (int j = 0; j < CLASSES; j++)
            printf(" %5zu", m[i * CLASSES + j]);
        printf("  %5.1f%%\n", 100.0 * recall[i]);
    }
    printf("%-12s", "precision");
    for (int j = 0; j < CLASSES; j++)
        printf(" %4.0f%%", 100.0 * precision[j]);
    printf("\n");
}

int main(int argc, char **argv)
{
    options o = parse_args(argc, argv);

    char bufs[N_FILES][4096];
    const char *paths[N_FILES];
    int missing = 0;
    for (int k = 0; k < N_FILES; k++) {
        paths[k] = find_file(&o, k, bufs[k], sizeof bufs[k]);
        if (paths[k] == NULL) {
            if (o.files[k] != NULL)
                fprintf(stderr, PROG ": cannot read %s\n", o.files[k]);
            else
                fprintf(stderr, PROG ": %s/%s(.gz) not found\n", o.dir, file_stems[k]);
            missing = 1;
        }
    }
    if (missing) {
        fprintf(stderr,
                PROG ": the Fashion-MNIST files are missing. On Debian or Ubuntu install them\n"
                     "  with:  apt-get install dataset-fashion-mnist\n"
                     "or pass their folder with --data DIR, or each file with --train-images,\n"
                     "--train-labels, --test-images and --test-labels.\n");
        return 2;
    }
    if (o.threads > 0)
        CHECK(nn_set_num_threads(o.threads));

    /* ---- data: pixels scaled to [0, 1], labels as class indices (N, 1) */
    nn_dataset *all, *test, *train, *val;
    CHECK(nn_idx_load_dataset(paths[TRAIN_IMAGES], paths[TRAIN_LABELS], 1.0f / 255, CLASSES, &all));
    CHECK(nn_idx_load_dataset(paths[TEST_IMAGES], paths[TEST_LABELS], 1.0f / 255, CLASSES, &test));
    if (o.limit > 0 && o.limit < nn_dataset_size(all)) {
        nn_dataset *part;
        CHECK(nn_dataset_subset(all, 0, o.limit, &part));
        nn_dataset_free(all);
        all = part;
    }
    nn_rng rng;
    nn_rng_seed(&rng, o.seed, 0);
    CHECK(nn_dataset_split(all, o.val_fraction, &rng, &train, &val));
    nn_dataset_free(all);
    size_t n_train = nn_dataset_size(train);
    printf("Fashion-MNIST: %zu training, %zu validation, %zu test images of %zu pixels\n", n_train,
           nn_dataset_size(val), nn_dataset_size(test), nn_dataset_in_width(train));

    /* ---- the network */
    nn_net *net;
    CHECK(nn_net_new(nn_dataset_in_width(train), &net));
    CHECK(nn_net_add(net, dense(256)));
    CHECK(nn_net_add(net, relu()));
    CHECK(nn_net_add(net, dense(128)));
    CHECK(nn_net_add(net, relu()));
    CHECK(nn_net_add(net, dense(CLASSES)));
    CHECK(nn_net_init_params(net, &rng));
    nn_loss *ce;
    CHECK(nn_loss_cross_entropy_new(&ce)); /* softmax + NLL on the logits */
    CHECK(nn_net_set_loss(net, ce, 1));
    nn_adam_params ap = nn_adam_default_params();
    ap.lr = o.lr;
    nn_optim *adam;
    CHECK(nn_optim_adam_new_ex(&ap, &adam));
    CHECK(nn_net_set_optim(net, adam));
    size_t n_params;
    nn_net_params(net, &n_params);
    printf("Network: 784-256-128-10 ReLU, %zu parameters; Adam lr %g%s, batch %zu, %zu epochs, "
           "BLAS threads %d\n",
           n_params, o.lr, o.cosine ? " with cosine decay" : "", o.batch, o.epochs,
           nn_get_num_threads());

    /* ---- training */
    nn_epoch_stats *epochs = calloc(o.epochs, sizeof *epochs);
    if (epochs == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    nn_fit_history history = {epochs, o.epochs, 0, 0, 0};
    nn_fit_params fp = nn_fit_default_params();
    fp.epochs = o.epochs;
    fp.batch_size = o.batch;
    fp.shuffle = 1;
    fp.rng = &rng;
    fp.val_x = nn_dataset_x(val);
    fp.val_target = nn_dataset_y(val);
    fp.accuracy = 1;
    fp.progress = o.progress;
    /* torch.optim.lr_scheduler.CosineAnnealingLR(T_max=epochs), stepped once per epoch:
     * the last epochs take small steps, so the result depends less on where the final
     * batches happened to push the weights. */
    nn_schedule cosine = nn_schedule_cosine(o.epochs, 0.0);
    if (o.cosine)
        fp.schedule = &cosine;
    CHECK(nn_net_fit(net, nn_dataset_x(train), nn_dataset_y(train), &fp, &history));

    printf("\nepoch  train loss  train acc  val loss  val acc  seconds  samples/s\n");
    double seconds = 0.0;
    for (size_t e = 0; e < history.count; e++) {
        const nn_epoch_stats *s = &history.epochs[e];
        printf("%5zu  %10.4f  %8.2f%%  %8.4f  %6.2f%%  %7.2f  %9.0f\n", s->epoch + 1, s->train_loss,
               100.0 * s->train_acc, s->val_loss, 100.0 * s->val_acc, s->seconds, s->samples_per_s);
        seconds += s->seconds;
    }
    double per_epoch = history.count > 0 ? seconds / (double)history.count : 0.0;
    double samples_per_s = seconds > 0 ? (double)n_train * (double)history.count / seconds : 0.0;
    printf("Time per epoch %.2f s (validation included), %.0f training samples/s\n", per_epoch,
           samples_per_s);
    if (o.history != NULL) {
        CHECK(nn_fit_history_write_csv(&history, o.history));
        printf("History written to %s\n", o.history);
    }

    if (o.save != NULL) {
        CHECK(nn_model_save_net(net, o.save, NULL, 0));
        FILE *f = fopen(o.save, "rb");
        long bytes = -1;
        if (f != NULL && fseek(f, 0, SEEK_END) == 0)
            bytes = ftell(f);
        if (f != NULL)
            fclose(f);
        printf("Model saved to %s (%ld bytes)\n", o.save, bytes);
    }

    /* ---- test */
    size_t confusion[CLASSES * CLASSES];
    nn_eval_stats ts;
    CHECK(nn_evaluate(net, nn_dataset_x(test), nn_dataset_y(test), 1000, confusion, CLASSES, &ts));
    printf("\nTest accuracy %.2f%% (%zu of %zu), test loss %.4f\n", 100.0 * ts.accuracy, ts.correct,
           ts.rows, ts.loss);
    print_confusion(confusion);

    if (o.json)
        printf("{\"impl\": \"nn\", \"threads\": %d, \"batch\": %zu, \"epochs\": %zu, "
               "\"train_samples\": %zu, \"test_accuracy\": %.4f, \"test_loss\": %.4f, "
               "\"seconds_per_epoch\": %.3f, \"samples_per_s\": %.0f}\n",
               nn_get_num_threads(), o.batch, history.count, n_train, ts.accuracy, ts.loss,
               per_epoch, samples_per_s);

    free(epochs);
    nn_net_free(net);
    nn_dataset_free(train);
    nn_dataset_free(val);
    nn_dataset_free(test);
    return 0;
}
