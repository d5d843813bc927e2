#!/usr/bin/env bash
# Memory per connection: for every server (nr epoll tokio-mt tokio-ct, each
# pinned to CPU 0, conn-mem on CPU 1), E2E_REPS times alternating, open
# E2E_MEM_CONNS (10,000) idle connections and measure the server's RSS growth,
# then echo one 64-byte message on each and measure again; prints a table of
# medians with netreactor/peer ratios. Same knobs as benches/e2e.sh.
#
#   benches/mem.sh                          # 10,000 connections, 3 reps: ~1 min
#   E2E_MEM_CONNS=1000 benches/mem.sh
exec env E2E_MEM=1 "$(dirname "${BASH_SOURCE[0]}")/e2e.sh" "$@"
