#!/usr/bin/env bash
# compare.sh - trains the Fashion-MNIST network with nn and with PyTorch, one after the
# other in the same run on the same machine, and prints the figures side by side.
#
#   examples/fashion_mnist/compare.sh [--nn PATH] [--threads N] [--epochs N] [--batch N]
#                                     [--seed N] [--history FILE]
#
# --nn is the nn_fashion_mnist binary (default: build/release/examples/fashion_mnist/
# nn_fashion_mnist). Both use the same thread count (default 1: BLAS and torch each on
# one core), batch size (128), epochs (10) and seed. Needs python3-torch and
# dataset-fashion-mnist (Debian packages). Each program's full output goes to stderr;
# stdout gets the table and both JSON lines.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nn_bin=$here/../../build/release/examples/fashion_mnist/nn_fashion_mnist
threads=1 epochs=10 batch=128 seed=1 history=
while [[ $# -gt 0 ]]; do
    # every option but --help takes a value (set -u made a missing one 'unbound variable')
    if [[ $1 != -h && $1 != --help && $# -lt 2 ]]; then
        echo "compare.sh: $1 needs a value" >&2
        exit 2
    fi
    case $1 in
    --nn) nn_bin=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --history) history=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -x $nn_bin ]] || { echo "compare.sh: no nn_fashion_mnist at $nn_bin (build it, or pass --nn)" >&2; exit 2; }
# Debian's interpreter, where python3-torch is installed (not a pyenv or venv one).
py=/usr/bin/python3
[[ -x $py ]] || py=python3

common=(--threads "$threads" --epochs "$epochs" --batch "$batch" --seed "$seed" --json)
nn_args=("${common[@]}" --progress lines)
[[ -n $history ]] && nn_args+=(--history "$history")

# Each report is captured, then copied to stderr (tee /dev/stderr would reopen, and so
# truncate, a log file stderr is redirected to).
echo "== nn" >&2
nn_out=$("$nn_bin" "${nn_args[@]}")
printf '%s\n' "$nn_out" >&2
echo "== PyTorch" >&2
torch_out=$(OMP_NUM_THREADS=$threads "$py" "$here/torch_fashion.py" "${common[@]}")
printf '%s\n' "$torch_out" >&2
nn_json=$(grep '^{' <<<"$nn_out")
torch_json=$(grep '^{' <<<"$torch_out")

"$py" - "$nn_json" "$torch_json" "$(uname -m)" "$(nproc)" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"Fashion-MNIST, 784-256-128-10 ReLU, Adam 1e-3 with cosine decay, batch {a['batch']}, {a['epochs']} epochs, "
      f"{a['train_samples']} training images; {sys.argv[3]} with {sys.argv[4]} cores")
print(f"{'':22}{'nn':>10}{'PyTorch':>10}")
print(f"{'threads':22}{a['threads']:>10}{b['threads']:>10}")
print(f"{'test accuracy':22}{100 * a['test_accuracy']:>9.2f}%{100 * b['test_accuracy']:>9.2f}%")
print(f"{'test loss':22}{a['test_loss']:>10.4f}{b['test_loss']:>10.4f}")
print(f"{'seconds per epoch':22}{a['seconds_per_epoch']:>10.2f}{b['seconds_per_epoch']:>10.2f}")
print(f"{'training samples/s':22}{a['samples_per_s']:>10.0f}{b['samples_per_s']:>10.0f}")
EOF
echo "$nn_json"
echo "$torch_json"
