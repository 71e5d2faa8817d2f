/*
 * test_steps: the deploy state machine and admission, without disk.
 */
#include "testutil.h"

#include <string.h>

#include "steps.h"

static void
test_happy_path_order(void **state)
{
    (void)state;
    journal_step_t want[] = {JOURNAL_STAGE,  JOURNAL_BEFORE_ACTIVATE,
                             JOURNAL_SWITCH, JOURNAL_ACTIVATE,
                             JOURNAL_HEALTH, JOURNAL_NONE};
    journal_step_t s = JOURNAL_NONE;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        s = steps_next(s);
        assert_int_equal(s, want[i]);
    }
    assert_int_equal(steps_next(JOURNAL_ROLLBACK), JOURNAL_NONE);
}

static void
test_failure_before_switch_abandons(void **state)
{
    (void)state;
    assert_int_equal(steps_on_failure(JOURNAL_STAGE), STEPS_ABANDON);
    assert_int_equal(steps_on_failure(JOURNAL_BEFORE_ACTIVATE), STEPS_ABANDON);
    assert_int_equal(steps_on_failure(JOURNAL_NONE), STEPS_NOTHING);
}

static void
test_failure_from_switch_rolls_back(void **state)
{
    (void)state;
    journal_step_t after[] = {JOURNAL_SWITCH, JOURNAL_ACTIVATE, JOURNAL_HEALTH,
                              JOURNAL_ROLLBACK};
    for (size_t i = 0; i < sizeof after / sizeof *after; i++) {
        assert_int_equal(steps_on_failure(after[i]), STEPS_ROLLBACK);
        assert_int_equal(steps_recovery(after[i]), STEPS_ROLLBACK);
    }
}

static void
test_admission(void **state)
{
    (void)state;
    journal_t j;
    journal_init(&j, "web");
    strcpy(j.current, "1.2.0");
    j.highest_sequence = 10;
    assert_int_equal(steps_admit(&j, NULL, "web", "1.3.0", 11, true),
                     STEPS_ADMIT);
    /* Equal sequence is not below: a rebuild with the same number. */
    assert_int_equal(steps_admit(&j, "web", "web", "1.3.0", 10, true),
                     STEPS_ADMIT);
    assert_int_equal(steps_admit(&j, NULL, "web", "1.1.0", 9, true),
                     STEPS_REFUSE_SEQUENCE);
    assert_int_equal(steps_admit(&j, "billing", "web", "1.3.0", 11, true),
                     STEPS_REFUSE_APP);
    assert_int_equal(steps_admit(&j, NULL, "web", "1.3.0", 11, false),
                     STEPS_REFUSE_ENV);
    assert_int_equal(steps_admit(&j, NULL, "web", "1.2.0", 10, true),
                     STEPS_ALREADY_CURRENT);
    /* A kept, not live, version is never overwritten by new bytes. */
    journal_history_add(&j, "1.1.0");
    journal_history_add(&j, "1.2.0");
    assert_int_equal(steps_admit(&j, NULL, "web", "1.1.0", 12, true),
                     STEPS_REFUSE_KEPT);
    assert_int_equal(steps_admit(&j, NULL, "web", "1.2.0", 12, true),
                     STEPS_ALREADY_CURRENT);
    /* App and env are checked before the sequence: the first reason wins. */
    assert_int_equal(steps_admit(&j, "billing", "web", "0.1", 1, false),
                     STEPS_REFUSE_APP);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path_order),
        cmocka_unit_test(test_failure_before_switch_abandons),
        cmocka_unit_test(test_failure_from_switch_rolls_back),
        cmocka_unit_test(test_admission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
