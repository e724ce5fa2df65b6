/*
 * Open, load and auto-attach a BPF object with libbpf, as a libbpf tool's
 * skeleton does: bpf_program__attach() parses the program's section name
 * (SEC("usdt/PATH:PROVIDER:NAME")), finds the probe in PATH and parses its
 * arguments.  Prints "attached" or "attach failed" and libbpf's own log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

static int print(enum libbpf_print_level level, const char *fmt, va_list args)
{
    (void)level;
    return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
    struct bpf_object *obj;
    struct bpf_program *prog;
    struct bpf_link *link;

    if (argc != 2) {
        fprintf(stderr, "usage: attach_usdt OBJECT\n");
        return 2;
    }
    libbpf_set_print(print);
    obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) {
        printf("load failed\n");
        return 2;
    }
    prog = bpf_object__next_program(obj, NULL);
    printf("section: %s\n", bpf_program__section_name(prog));
    link = bpf_program__attach(prog);
    if (!link) {
        printf("attach failed\n");
        bpf_object__close(obj);
        return 1;
    }
    printf("attached\n");
    bpf_link__destroy(link);
    bpf_object__close(obj);
    return 0;
}
