#!/usr/bin/env bash
# The robustness study of docs/methods/robustness.md (JEM, arXiv:1912.03263 §5.3, on
# Fashion-MNIST). It first trains the cross-entropy baseline, JEM and VERA-JEM with their
# presets; a run folder that already has a checkpoint is reused. It then attacks all three from
# the JEM run, with the outputs going to OUT_DIR/<pass>/eval.json, eval-robustness.{png,json,md}
# and eval-distal.png:
#   ce     PGD-20 on the cross-entropy, L-inf and L2, 1000 test images, 3 attack seeds; the SGLD
#          defence (K = 10, a = 1, b = 0.01, logits of 4 chains) on 100 images, attacked by
#          PGD-10 through every refinement step, 3 seeds;
#   margin the same undefended attacks on the logit margin (Carlini-Wagner), which a saturated
#          softmax cannot mask;
#   both   the protocol's default: per input, robust only if both attacks fail (undefended);
#   bpda   the defence attacked with the identity gradient through the refinement, 2 seeds;
#   vera-defence/aA  VERA-JEM's accuracy through the defence at smaller SGLD steps a.
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

base="eval.attack.kind=pgd eval.attack.n=1000 eval.attack.steps=20 eval.attack.seeds=3
  eval.attack.eps_linf=[0,0.02,0.05,0.1,0.2,0.5] eval.attack.eps_l2=[0,0.5,1,2,4,8]
  eval.attack.defence_chains=4 eval.attack.defence_n=100 eval.attack.defence_attack_steps=10
  eval.attack.models=$out/ce,$out/vera run.threads=$threads run.progress=none"
pass() {  # name options...
  local name=$1
  shift
  mkdir -p "$out/$name"
  /usr/bin/time -f "%e s" "$joule" eval "$out/jem" $base "$@" eval.out="$out/$name/eval.json" > "$out/$name/log.txt" 2>&1
  grep "^robustness:\|s$" "$out/$name/log.txt" | tail -20
}
pass ce eval.attack.loss=ce eval.attack.defence_steps=[0,10] "$@"
pass margin eval.attack.loss=margin eval.attack.defence_steps=[0] eval.attack.distal_steps=0 "$@"
pass both eval.attack.loss=both eval.attack.defence_steps=[0] eval.attack.distal_steps=0 "$@"
pass bpda eval.attack.loss=ce eval.attack.defence_steps=[10] eval.attack.defence_gradient=identity eval.attack.seeds=2 \
  eval.attack.distal_steps=0 "$@"
mkdir -p "$out/vera-defence"
for a in 0.1 0.01 0.001 0.0001 0.00001; do
  "$joule" eval "$out/vera" eval.attack.kind=pgd eval.attack.norms=[linf] eval.attack.eps_linf=[0] eval.attack.defence_steps=[0,10] \
    eval.attack.n=100 eval.attack.defence_n=100 eval.attack.defence_chains=4 eval.attack.seeds=1 eval.attack.defence_step_size=$a \
    eval.attack.distal_steps=0 eval.attack.checks=false run.threads="$threads" run.progress=none \
    eval.out="$out/vera-defence/a$a.json" > "$out/vera-defence/a$a.log" 2>&1
  echo "a = $a: $(grep '^robustness:' "$out/vera-defence/a$a.log" | tr '\n' ' ')"
done
