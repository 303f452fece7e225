/* /dashboard/config.json: what the page needs beyond its own files.
 *
 * The MQTT password it carries belongs to the broker's read-only dashboard identity
 * (takumi-admin creates it with the data directory; its ACL reads v1.1/# and
 * city/alerts/# only), so serving it to anyone who loads the page is the design, not a
 * leak. It is read from its file on every request, so a rotated password reaches the next
 * page load without restarting the API. When live updates cannot work the reason is
 * given in "mqtt_error" and the page says so, instead of failing silently. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "tk_config.h"

void api_dashboard_config(const struct api_request *req, struct api_reply *rep)
{
    const struct api_config *cfg = req->cfg;
    char pwfile[700], pw[256], err[300] = "";
    if (cfg->ws_password_file[0])
        snprintf(pwfile, sizeof pwfile, "%s", cfg->ws_password_file);
    else
        snprintf(pwfile, sizeof pwfile, "%s/secrets/dashboard.pass", cfg->data_dir);
    if (!cfg->ws_url[0] && !cfg->ws_port)
        snprintf(err, sizeof err,
                 "the API was started without --ws-port or --ws-url, so the"
                 " page has no MQTT WebSocket to listen on");
    else if (tk_secret_read(pwfile, pw, sizeof pw))
        snprintf(err, sizeof err,
                 "cannot read the dashboard's broker password from %.200s"
                 " (takumi-admin init creates it)",
                 pwfile);

    struct api_buf *b = &rep->body;
    api_buf_puts(b, "{\"api\":\"/v1.1\",\"mqtt\":");
    if (err[0]) {
        api_buf_puts(b, "null,\"mqtt_error\":");
        api_buf_json_str(b, err, strlen(err));
    } else {
        api_buf_puts(b, "{\"url\":");
        if (cfg->ws_url[0])
            api_buf_json_str(b, cfg->ws_url, strlen(cfg->ws_url));
        else
            api_buf_puts(b, "null");
        api_buf_printf(b, ",\"port\":%lld,\"username\":", (long long)cfg->ws_port);
        api_buf_json_str(b, cfg->ws_user, strlen(cfg->ws_user));
        api_buf_puts(b, ",\"password\":");
        api_buf_json_str(b, pw, strlen(pw));
        api_buf_puts(b, ",\"topics\":[\"v1.1/+/Observations\",\"city/alerts/+\"]}");
    }
    api_buf_puts(b, "}");
    memset(pw, 0, sizeof pw);
    rep->status = 200;
    rep->content_type = "application/json";
    api_reply_header(rep, "Cache-Control", "no-store");
}
