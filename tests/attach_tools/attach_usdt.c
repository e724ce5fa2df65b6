/*
 * Open, load and attach a BPF object with libbpf.
 *
 *   attach_usdt OBJECT                         auto-attach, as a libbpf tool's
 *       skeleton does: bpf_program__attach() parses the program's section name
 *       (SEC("usdt/PATH:PROVIDER:NAME")), finds the probe in PATH and parses
 *       its arguments;
 *   attach_usdt OBJECT PID PATH PROVIDER NAME  the call usdtscan --pid gives:
 *       bpf_program__attach_usdt(prog, PID, PATH, PROVIDER, NAME, NULL).
 *
 * Prints "attached" or "attach failed"; libbpf's own log goes to stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: attach_usdt OBJECT [PID PATH PROVIDER NAME]\n");
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
    if (argc == 6)
        link = bpf_program__attach_usdt(prog, atoi(argv[2]), argv[3], argv[4], argv[5], NULL);
    else
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
