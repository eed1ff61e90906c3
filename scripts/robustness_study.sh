#!/usr/bin/env bash
# The robustness study of docs/methods/robustness.md (JEM, arXiv:1912.03263 §5.3, on
# Fashion-MNIST): trains the cross-entropy baseline, JEM and VERA-JEM with their presets (a run
# folder that already has a checkpoint is reused), then attacks all three with PGD under L-inf
# and L2, without and with the SGLD refinement defence, from the JEM run:
#   OUT_DIR/jem/eval-step<N>-robustness.{png,json,md} and -distal.png.
# A second, cheaper pass attacks the defence with the BPDA gradient (identity through the
# refinement) instead of the exact one: OUT_DIR/bpda/...
# Usage: scripts/robustness_study.sh OUT_DIR [eval.attack.key=value ...]
# Env: JOULE (default build/joule), THREADS (default 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
joule=${JOULE:-$root/build/joule}
threads=${THREADS:-2}
out=$1
shift
mkdir -p "$out"
train() {  # name preset
  if [ -f "$out/$1/checkpoint.pt" ]; then echo "reusing $out/$1"; return; fi
  "$joule" train "$2" out="$out/$1" run.threads="$threads" run.progress=none > "$out/$1.log" 2>&1
  tail -3 "$out/$1.log"
}
train ce ce_fashion_cnn
train jem jem_fashion_cnn
train vera "$root/configs/vera_jem_fashion.toml"

# The protocol's settings (eval.attack.* defaults, written out): 1000 test images attacked by
# PGD-20 with 3 seeds; the defence (K = 10 SGLD steps a = 1, b = 0.01, logits averaged over 4
# chains) on 100 images, PGD-10 through every refinement step, 2 seeds.
attack="eval.attack.kind=pgd eval.attack.n=1000 eval.attack.steps=20 eval.attack.seeds=3
  eval.attack.eps_linf=[0,0.02,0.05,0.1,0.2,0.5] eval.attack.eps_l2=[0,0.5,1,2,4,8]
  eval.attack.defence_steps=[0,10] eval.attack.defence_chains=4 eval.attack.defence_n=100
  eval.attack.defence_attack_steps=10 eval.attack.defence_gradient=through"
/usr/bin/time -f "%e s" "$joule" eval "$out/jem" $attack eval.attack.models="$out/ce,$out/vera" \
  run.threads="$threads" run.progress=none "$@" 2>&1 | tee "$out/robustness.log"
mkdir -p "$out/bpda"
/usr/bin/time -f "%e s" "$joule" eval "$out/jem" $attack eval.attack.defence_steps=[10] eval.attack.defence_gradient=identity \
  eval.attack.models="$out/ce,$out/vera" eval.attack.seeds=1 eval.attack.distal_steps=0 eval.out="$out/bpda/eval.json" \
  run.threads="$threads" run.progress=none "$@" 2>&1 | tee "$out/bpda.log"
