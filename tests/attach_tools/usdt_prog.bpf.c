/*
 * The smallest libbpf USDT program: one handler in the section named by
 * -DSECTION (the attach spec under test) and the maps of <bpf/usdt.bpf.h>
 * that libbpf's USDT manager needs.  Built by tests/test_attach.py with
 * clang -target bpf.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

SEC(SECTION)
int fired(struct pt_regs *ctx)
{
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
