/*
 * hoist-controller: the command line of the controller daemon.
 *
 *   hoist-controller init --data-dir DIR [--agent-endpoint E]
 *                         [--api-endpoint E]
 *   hoist-controller run  --data-dir DIR [--agent-endpoint E]
 *                         [--api-endpoint E] [--heartbeat MS]
 *
 * `run` writes DIR/cli.conf, so HOIST_CONFIG=DIR/cli.conf hoist ... works
 * at once for the admin.
 */
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "datadir.h"
#include "log.h"

static const char s_usage[] =
    "usage:\n"
    "  hoist-controller init --data-dir DIR [--agent-endpoint E] "
    "[--api-endpoint E]\n"
    "  hoist-controller run  --data-dir DIR [--agent-endpoint E] "
    "[--api-endpoint E] [--heartbeat MS]\n";

static int
s_parse(int argc, char **argv, controller_opts_t *o)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"agent-endpoint", required_argument, NULL, 'a'},
        {"api-endpoint", required_argument, NULL, 'p'},
        {"heartbeat", required_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    char *end = NULL;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data_dir = optarg;
            break;
        case 'a':
            o->agent_endpoint = optarg;
            break;
        case 'p':
            o->api_endpoint = optarg;
            break;
        case 'h':
            o->heartbeat_ms = (uint32_t)strtoul(optarg, &end, 10);
            if (*end || o->heartbeat_ms < 50 || o->heartbeat_ms > 600000) {
                fprintf(stderr, "hoist-controller: --heartbeat takes 50 to "
                                "600000 ms\n");
                return 2;
            }
            break;
        default:
            fputs(s_usage, stderr);
            return 2;
        }
    }
    if (!o->data_dir || optind != argc) {
        fprintf(stderr, "hoist-controller: --data-dir DIR is required\n%s",
                s_usage);
        return 2;
    }
    return 0;
}

static int
s_init(controller_opts_t *o)
{
    hoist_error_t err = {0};
    if (datadir_init(
            o->data_dir,
            o->agent_endpoint ? o->agent_endpoint : CONTROLLER_AGENT_ENDPOINT,
            o->api_endpoint ? o->api_endpoint : CONTROLLER_API_ENDPOINT,
            &err) != HOIST_OK) {
        log_error("%s", err.msg);
        return error_exit_code(err.code);
    }
    printf("controller data directory ready in %s\n"
           "start it with: hoist-controller run --data-dir %s\n",
           o->data_dir, o->data_dir);
    return 0;
}

static int
s_run(controller_opts_t *o)
{
    hoist_error_t err = {0};
    zsys_init(); /* SIGINT and SIGTERM end the loop (zsys_interrupted) */
    controller_t *c = controller_new(o, &err);
    if (!c ||
        datadir_write_cli_conf(o->data_dir, controller_api_endpoint(c),
                               controller_server_key(c), &err) != HOIST_OK) {
        log_error("%s", err.msg);
        controller_destroy(&c);
        return 1;
    }
    hoist_err_t rc = controller_run(c, &err);
    if (rc != HOIST_OK) {
        log_error("%s", err.msg);
    }
    controller_destroy(&c);
    return rc == HOIST_OK ? 0 : 1;
}

int
main(int argc, char **argv)
{
    log_init("hoist-controller", LOG_LEVEL_INFO);
    controller_opts_t o = {0};
    if (argc < 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int rc = s_parse(argc - 1, argv + 1, &o);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(cmd, "init") == 0) {
        return s_init(&o);
    }
    if (strcmp(cmd, "run") == 0) {
        return s_run(&o);
    }
    fprintf(stderr, "hoist-controller: unknown command '%s'\n%s", cmd, s_usage);
    return 2;
}
