/* Service SAS authentication and rights (service-api.md §10). */
#include "service_fixture.h"

#include "api/service_auth_internal.h"
#include "config.h"

#define VECTOR_SIG "9XroltssIO6AcxPNSLu7EjwXCBMXQV31orVXZaqjEiY%3D"
#define VECTOR_SE 1767225600

static dps_http_request auth_request(dps_http_header *h, const char *token)
{
    h[0] = (dps_http_header){"authorization", token};
    dps_http_request req = {.method = DPS_HTTP_GET, .path = "/enrollments/x", .headers = h,
                            .nheaders = token ? 1 : 0, .peer = "test"};
    return req;
}

/* Authorises token at time now for the given rights; returns the status. */
static int try_token(svc_fx *fx, const char *token, int64_t now, unsigned rights)
{
    dps_http_header h[1];
    dps_http_request req = auth_request(h, token);
    dps_http_response res = {0};
    bool ok = dps_service_authorize_at(&fx->ctx, &req, rights, now, &res);
    int status = ok ? 200 : res.status;
    /* success leaves the response alone */
    if (ok)
        assert_null(res.body);
    dps_http_response_free(&res);
    return status;
}

static void test_vector(void **state)
{
    svc_fx *fx = *state;
    /* §10.2: the signature over "dps.example.net\n1767225600" with the
     * owner key, verified at (almost) the time it expires. */
    const char *tok = "SharedAccessSignature sr=dps.example.net&sig=" VECTOR_SIG
                      "&se=1767225600&skn=provisioningserviceowner";
    assert_int_equal(try_token(fx, tok, VECTOR_SE - 10, DPS_RIGHT_ENROLLMENT_READ), 200);
    /* fields in any order (Node: sr, sig, skn, se) */
    const char *tok2 = "SharedAccessSignature sr=dps.example.net&sig=" VECTOR_SIG
                       "&skn=provisioningserviceowner&se=1767225600";
    assert_int_equal(try_token(fx, tok2, VECTOR_SE - 10, DPS_RIGHT_ENROLLMENT_READ), 200);
    /* within the 300 s skew after expiry, then refused */
    assert_int_equal(try_token(fx, tok, VECTOR_SE + 299, DPS_RIGHT_ENROLLMENT_READ), 200);
    assert_int_equal(try_token(fx, tok, VECTOR_SE + 301, DPS_RIGHT_ENROLLMENT_READ), 401);
}

static void test_expired_message(void **state)
{
    svc_fx *fx = *state;
    char *tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, DPS_OWNER_POLICY, dps_now_s() - 3600);
    svc_reply r;
    const char *h[] = {"Authorization", tok, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, h, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "expired");
    /* never the key or the signature */
    assert_null(strstr(r.res.body, SVC_OWNER_KEY));
    svc_reply_free(&r);
    free(tok);
}

static void test_far_future_accepted(void **state)
{
    svc_fx *fx = *state;
    /* Node may send milliseconds: a huge se is fine. */
    char *tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, DPS_OWNER_POLICY, dps_now_s() * 1000);
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 200);
    free(tok);
}

static void test_wrong_key(void **state)
{
    svc_fx *fx = *state;
    char *tok = dps_sas_build(SVC_HOST, SVC_SYMKEY, DPS_OWNER_POLICY, dps_now_s() + 600);
    svc_reply r;
    const char *h[] = {"Authorization", tok, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, h, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "signature");
    svc_reply_free(&r);
    free(tok);
}

static void test_secondary_key(void **state)
{
    svc_fx *fx = *state;
    char *tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY2, DPS_OWNER_POLICY, dps_now_s() + 600);
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 200);
    free(tok);
}

static void test_wrong_audience(void **state)
{
    svc_fx *fx = *state;
    char *tok = dps_sas_build("other.example.net", SVC_OWNER_KEY, DPS_OWNER_POLICY,
                              dps_now_s() + 600);
    svc_reply r;
    const char *h[] = {"Authorization", tok, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, h, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "audience");
    svc_reply_free(&r);
    free(tok);
}

static void test_audience_port_and_case(void **state)
{
    svc_fx *fx = *state;
    /* Node signs the raw host with its port; the CLI encodes; case is free. */
    char *tok = dps_sas_build("DPS.Example.net:8443", SVC_OWNER_KEY, DPS_OWNER_POLICY,
                              dps_now_s() + 600);
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 200);
    free(tok);
    /* a configured extra host name is also an audience */
    dpsd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host_name.items[0] = "alt.example.net";
    cfg.host_name.count = 1;
    fx->ctx.config = &cfg;
    tok = dps_sas_build("alt.example.net", SVC_OWNER_KEY, DPS_OWNER_POLICY, dps_now_s() + 600);
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 200);
    fx->ctx.config = NULL;
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 401);
    free(tok);
}

static void test_missing_skn_and_unknown_policy(void **state)
{
    svc_fx *fx = *state;
    char *tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, NULL, dps_now_s() + 600);
    svc_reply r;
    const char *h[] = {"Authorization", tok, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, h, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "skn");
    svc_reply_free(&r);
    free(tok);

    tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, "nosuchpolicy", dps_now_s() + 600);
    const char *h2[] = {"Authorization", tok, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, h2, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "unknown access policy");
    svc_reply_free(&r);
    free(tok);

    /* policy names are case-insensitive */
    tok = dps_sas_build(SVC_HOST, SVC_OWNER_KEY, "ProvisioningServiceOwner", dps_now_s() + 600);
    assert_int_equal(try_token(fx, tok, dps_now_s(), DPS_RIGHT_ENROLLMENT_READ), 200);
    free(tok);
}

static void test_missing_and_malformed_header(void **state)
{
    svc_fx *fx = *state;
    svc_reply r;
    const char *none[] = {"Authorization", NULL, NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, none, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "missing");
    svc_reply_free(&r);
    const char *bad[] = {"Authorization", "SharedAccessSignature garbage", NULL};
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, bad, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "malformed");
    svc_reply_free(&r);
}

static void test_rights(void **state)
{
    svc_fx *fx = *state;
    svc_put_policy(fx, "reader", "reader", SVC_SYMKEY, SVC_SYMKEY, "EnrollmentRead");
    svc_put_policy(fx, "regs", "regs", SVC_SYMKEY, SVC_SYMKEY, "RegistrationStatusRead");
    char *reader = dps_sas_build(SVC_HOST, SVC_SYMKEY, "reader", dps_now_s() + 600);
    char *regs = dps_sas_build(SVC_HOST, SVC_SYMKEY, "regs", dps_now_s() + 600);
    svc_reply r;
    const char *hr[] = {"Authorization", reader, NULL};
    const char *hg[] = {"Authorization", regs, NULL};
    /* EnrollmentRead may read (404: nothing there) but not write */
    svc_callv(fx, DPS_HTTP_GET, "/enrollments/dev1", NULL, hr, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    svc_callv(fx, DPS_HTTP_DELETE, "/enrollments/dev1", NULL, hr, &r);
    svc_assert_error(&r, 401, 401002);
    svc_assert_message_has(&r, "rights");
    svc_reply_free(&r);
    svc_callv(fx, DPS_HTTP_GET, "/registrations/dev1", NULL, hr, &r);
    svc_assert_error(&r, 401, 401002);
    svc_reply_free(&r);
    /* RegistrationStatusRead reads records, cannot delete them or read enrollments */
    svc_callv(fx, DPS_HTTP_GET, "/registrations/dev1", NULL, hg, &r);
    svc_assert_error(&r, 404, 404201);
    svc_reply_free(&r);
    svc_callv(fx, DPS_HTTP_DELETE, "/registrations/dev1", NULL, hg, &r);
    svc_assert_error(&r, 401, 401002);
    svc_reply_free(&r);
    svc_callv(fx, DPS_HTTP_POST, "/enrollments/query", "{}", hg, &r);
    svc_assert_error(&r, 401, 401002);
    svc_reply_free(&r);
    free(reader);
    free(regs);
}

static void test_rights_text(void **state)
{
    (void)state;
    unsigned m = 0;
    assert_int_equal(dps_rights_parse("ServiceConfig, EnrollmentWrite", &m), 0);
    assert_int_equal(m, DPS_RIGHT_SERVICE_CONFIG | DPS_RIGHT_ENROLLMENT_WRITE);
    assert_int_equal(dps_rights_parse("enrollmentread,registrationstatuswrite", &m), 0);
    assert_int_equal(m, DPS_RIGHT_ENROLLMENT_READ | DPS_RIGHT_REGISTRATION_STATUS_WRITE);
    assert_int_equal(dps_rights_parse(DPS_OWNER_RIGHTS, &m), 0);
    assert_int_equal(m, DPS_RIGHTS_ALL);
    assert_int_equal(dps_rights_parse("", &m), -1);
    assert_int_equal(dps_rights_parse("ServiceConfig,, DeviceConnect", &m), -1);
    assert_int_equal(dps_rights_parse("ServiceConfig Bogus", &m), -1);
    assert_int_equal(dps_rights_parse("Bogus", &m), -1);
    char *text = dps_rights_format(DPS_RIGHTS_ALL);
    assert_string_equal(text, DPS_OWNER_RIGHTS);
    free(text);
    text = dps_rights_format(DPS_RIGHT_DEVICE_CONNECT | DPS_RIGHT_SERVICE_CONFIG);
    assert_string_equal(text, "ServiceConfig, DeviceConnect");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vector, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_expired_message, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_far_future_accepted, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_secondary_key, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_audience, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_audience_port_and_case, svc_setup, svc_teardown),
        cmocka_unit_test_setup_teardown(test_missing_skn_and_unknown_policy, svc_setup,
                                        svc_teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_malformed_header, svc_setup,
                                        svc_teardown),
        cmocka_unit_test_setup_teardown(test_rights, svc_setup, svc_teardown),
        cmocka_unit_test(test_rights_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
