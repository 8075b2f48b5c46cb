// greedy: load a GGUF file with llama.cpp (libllama) and print the ids of N greedy tokens after
// BOS, one per line. It checks that llama.cpp's own loader accepts what rpiq export writes and
// that it computes what rpiq's runtime computes (rope.sh compares the two).
//
//	usage: greedy FILE.gguf N
#include "llama.h"
#include <stdio.h>
#include <stdlib.h>

static void quiet(enum ggml_log_level level, const char *text, void *data) { (void)level; (void)text; (void)data; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: greedy FILE.gguf N\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model *m = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!m) {
        fprintf(stderr, "greedy: llama.cpp cannot load %s\n", argv[1]);
        return 1;
    }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = 1;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    int n = atoi(argv[2]), nv = llama_vocab_n_tokens(v);
    llama_token tok = llama_vocab_bos(v);
    for (int i = 0; i < n; i++) {
        if (llama_decode(ctx, llama_batch_get_one(&tok, 1))) {
            fprintf(stderr, "greedy: decode failed\n");
            return 1;
        }
        const float *lg = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int j = 1; j < nv; j++)
            if (lg[j] > lg[best]) best = j; // the first index wins ties, as rpiq's sampler
        tok = best;
        printf("%d\n", tok);
    }
    return 0;
}
