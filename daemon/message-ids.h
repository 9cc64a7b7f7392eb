/* The journal's MESSAGE_ID= of each kind of event greetingd logs: fixed
 * 128-bit ids (made once with systemd-id128 new), so that
 * `journalctl MESSAGE_ID=...` finds one kind across versions. Listed in
 * greetingd(8): change none, add new ones. */
#pragma once

#define MESSAGE_ID_STARTED "28f0003744b642b1aed169ec086e82b5"        /* ready: serving */
#define MESSAGE_ID_RELOADED "0d2f9dfac2b5442baa2b1c1d88a16979"       /* a new configuration applied */
#define MESSAGE_ID_RELOAD_REFUSED "be6d1fd7707043b6914b986d01aa51eb" /* the running configuration kept */
#define MESSAGE_ID_CLIENT_REFUSED "2183fa8f35d4470c93c4450e2b7aa8fd" /* denied, over its rate or limit, a bad source */
#define MESSAGE_ID_CLIENT_DROPPED "7e46196fcb764c38a23ddb46a35f9c5f" /* at its timeout or deadline */
#define MESSAGE_ID_ACCESS "edd1ac134e2e4984adacc787a333556b"         /* log-clients: a client's access line */
