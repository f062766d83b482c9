/* BX24.js stand-in served by the Blago24 sandbox (bitrix24-rest.md §7.2). No dependencies, no internet.
 * The page's own URL carries APP_SID; the session (auth, REST URL, placement) comes from
 * <sandbox origin>/_sandbox/sessions/<APP_SID>, the origin being that of this script's src. */
(function (global) {
  "use strict";

  var script = document.currentScript || (function () {
    var all = document.getElementsByTagName("script");
    return all[all.length - 1];
  })();

  function originOf(url) {
    var a = document.createElement("a");
    a.href = url;
    return a.protocol + "//" + a.host;
  }

  function queryParam(name) {
    var pairs = global.location.search.replace(/^\?/, "").split("&");
    for (var i = 0; i < pairs.length; i++) {
      var kv = pairs[i].split("=");
      if (decodeURIComponent(kv[0]) === name) {
        return decodeURIComponent((kv[1] || "").replace(/\+/g, " "));
      }
    }
    return null;
  }

  function remembered() { try { return global.sessionStorage.getItem("bx24_app_sid"); } catch (e) { return null; } }

  var ORIGIN = originOf(script.src);
  // a page the app navigated to inside the frame (a form's POST) has no APP_SID in its URL: like Bitrix24's
  // own BX24.js (which reads the frame's name), it keeps working for the frame's session
  var SID = queryParam("APP_SID") || remembered();
  if (SID) { try { global.sessionStorage.setItem("bx24_app_sid", SID); } catch (e) {} }
  var LANG = queryParam("LANG") || "ru";
  var DOMAIN = queryParam("DOMAIN");
  var session = null;
  var failed = false;
  var waiting = [];
  var options = {};

  function later(fn) { setTimeout(fn, 0); }

  function request(method, url, body, cb) {
    var x = new XMLHttpRequest();
    x.open(method, url, true);
    if (body !== null) { x.setRequestHeader("Content-Type", "application/json"); }
    x.onload = function () {
      var data = null;
      try { data = JSON.parse(x.responseText); } catch (e) { data = {error: "INVALID_RESPONSE", error_description: x.responseText}; }
      cb(x.status, data);
    };
    x.onerror = function () { cb(0, {error: "NETWORK_ERROR", error_description: "request to " + url + " failed"}); };
    x.send(body === null ? null : JSON.stringify(body));
  }

  function whenReady(fn) {
    if (session) { later(fn); } else if (!failed) { waiting.push(fn); }
  }

  function load() {
    if (!SID) {
      failed = true;
      if (global.console) { console.warn("BX24: no APP_SID in the page URL; BX24.init will not call back"); }
      return;
    }
    request("GET", ORIGIN + "/_sandbox/sessions/" + encodeURIComponent(SID), null, function (status, data) {
      if (status !== 200 || !data || !data.auth) {
        failed = true;
        if (global.console) { console.warn("BX24: session " + SID + " not loaded", status, data); }
        return;
      }
      session = data;
      var fns = waiting;
      waiting = [];
      for (var i = 0; i < fns.length; i++) { fns[i](); }
    });
  }

  function tellParent(message) {
    message.app_sid = SID;
    if (global.parent && global.parent !== global) { global.parent.postMessage(message, ORIGIN); }
  }

  function copy(obj) {
    var out = {};
    for (var k in obj) { if (Object.prototype.hasOwnProperty.call(obj, k)) { out[k] = obj[k]; } }
    return out;
  }

  /* PHP http_build_query: nested keys in brackets, true/false as 1/0, null skipped. */
  function buildQuery(params, prefix) {
    var parts = [];
    for (var k in params) {
      if (!Object.prototype.hasOwnProperty.call(params, k)) { continue; }
      var v = params[k];
      var key = prefix ? prefix + "[" + k + "]" : k;
      if (v === null || v === undefined) { continue; }
      if (typeof v === "object") {
        var inner = buildQuery(v, key);
        if (inner) { parts.push(inner); }
      } else {
        if (v === true) { v = 1; } else if (v === false) { v = 0; }
        parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(v)));
      }
    }
    return parts.join("&");
  }

  function Result(answer, status, method, params, cb) {
    this.answer = answer || {};
    this.status = status;
    this.query = {method: method, data: params};
    this._cb = cb;
  }
  Result.prototype.error = function () { return this.answer.error || ""; };
  Result.prototype.error_description = function () { return this.answer.error_description || ""; };
  Result.prototype.data = function () { return this.answer.result; };
  Result.prototype.more = function () { return this.answer.next !== undefined && this.answer.next !== null; };
  Result.prototype.total = function () { return +(this.answer.total || 0); };
  Result.prototype.time = function () { return this.answer.time; };
  Result.prototype.next = function (cb) {
    if (!this.more()) { return false; }
    var params = copy(this.query.data || {});
    params.start = this.answer.next;
    callMethod(this.query.method, params, cb || this._cb);
    return true;
  };

  function isExpired(data) { return data && (data.error === "expired_token" || data.error === "EXPIRED_TOKEN"); }

  function post(method, params, cb, retried) {
    var body = copy(params || {});
    body.auth = session.auth.access_token;
    request("POST", session.rest_url + method, body, function (status, data) {
      if (isExpired(data) && !retried) {
        refreshAuth(function () { post(method, params, cb, true); });
        return;
      }
      cb(status, data);
    });
  }

  function callMethod(method, params, cb) {
    params = params || {};
    whenReady(function () {
      post(method, params, function (status, data) {
        if (cb) { cb(new Result(data, status, method, params, cb)); }
      });
    });
  }

  function normaliseCalls(calls) {
    var list = [];
    for (var key in calls) {
      if (!Object.prototype.hasOwnProperty.call(calls, key)) { continue; }
      var c = calls[key];
      var method = c.method !== undefined ? c.method : c[0];
      var params = (c.method !== undefined ? c.params : c[1]) || {};
      list.push({key: key, method: method, params: params});
    }
    return list;
  }

  function pick(map, key) { return map && map[key] !== undefined ? map[key] : undefined; }

  function callBatch(calls, cb, haltOnError) {
    var isArray = Object.prototype.toString.call(calls) === "[object Array]";
    var list = normaliseCalls(calls);
    var cmd = {};
    for (var i = 0; i < list.length; i++) {
      var q = buildQuery(list[i].params);
      cmd[list[i].key] = list[i].method + (q ? "?" + q : "");
    }
    whenReady(function () {
      post("batch", {halt: haltOnError ? 1 : 0, cmd: cmd}, function (status, data) {
        var out = isArray ? [] : {};
        var r = (data && data.result) || {};
        for (var j = 0; j < list.length; j++) {
          var c = list[j];
          var err = pick(r.result_error, c.key);
          var answer = data && data.error ? data : {
            result: pick(r.result, c.key), next: pick(r.result_next, c.key),
            total: pick(r.result_total, c.key), time: pick(r.result_time, c.key),
            error: err && (err.error || err), error_description: err && err.error_description
          };
          out[c.key] = new Result(answer, status, c.method, c.params, null);
        }
        if (cb) { cb(out); }
      });
    });
  }

  function refreshAuth(cb) {
    whenReady(function () {
      request("POST", ORIGIN + "/_sandbox/sessions/" + encodeURIComponent(SID) + "/refresh", null, function (status, data) {
        if (status === 200 && data && data.auth) { session.auth = data.auth; }
        if (cb) { cb(getAuth()); }
      });
    });
  }

  function getAuth() {
    if (!session) { return false; }
    var a = session.auth;
    return {access_token: a.access_token, refresh_token: a.refresh_token, expires_in: a.expires_in,
            domain: a.domain, member_id: a.member_id};
  }

  function optionStore(getMethod, setMethod) {
    return {
      get: function (name, cb) {
        if (cb) {
          callMethod(getMethod, {option: name}, function (res) {
            if (!res.error()) { options[name] = res.data(); }
            cb(res.error() ? undefined : res.data());
          });
        }
        return options[name];
      },
      set: function (name, value, cb) {
        var opts = {};
        opts[name] = value;
        callMethod(setMethod, {options: opts}, function (res) {
          if (!res.error()) { options[name] = value; }
          if (cb) { cb(res.error() ? false : res.data()); }
        });
      }
    };
  }

  function resizeWindow(width, height, cb) {
    tellParent({bx24: "resize", width: width, height: height});
    if (cb) { later(function () { cb({width: width, height: height}); }); }
  }

  function scrollSize() {
    var d = document.documentElement, b = document.body || d;
    return {scrollWidth: Math.max(d.scrollWidth, b.scrollWidth), scrollHeight: Math.max(d.scrollHeight, b.scrollHeight)};
  }

  function noop(cb) { return function () { if (typeof cb === "function") { later(cb); } }; }

  var BX24 = {
    init: function (cb) { if (cb) { whenReady(cb); } },
    installFinish: function () {
      whenReady(function () {
        request("POST", ORIGIN + "/_sandbox/sessions/" + encodeURIComponent(SID) + "/install-finish", null, function () {
          tellParent({bx24: "installFinish"});
        });
      });
    },
    callMethod: callMethod,
    callBatch: callBatch,
    callBind: function (event, handler, auth_type, cb) { callMethod("event.bind", {event: event, handler: handler, auth_type: auth_type || 0}, cb); },
    callUnbind: function (event, handler, auth_type, cb) { callMethod("event.unbind", {event: event, handler: handler, auth_type: auth_type || 0}, cb); },
    placement: {
      info: function () { return session ? {placement: session.placement, options: session.options || {}} : {placement: "DEFAULT", options: {}}; },
      call: function (command, params, cb) { if (typeof params === "function") { cb = params; } if (typeof cb === "function") { later(function () { cb(); }); } },
      bindEvent: function (name, cb) { return true; },
      getInterface: function (cb) { if (cb) { later(function () { cb({command: {}, event: {}}); }); } }
    },
    fitWindow: function (cb) { var s = scrollSize(); resizeWindow("100%", s.scrollHeight, cb); },
    resizeWindow: resizeWindow,
    getScrollSize: scrollSize,
    reloadWindow: function () { global.location.reload(); },
    setTitle: function (title, cb) { document.title = title; noop(cb)(); },
    scrollParentWindow: function (scroll, cb) { noop(cb)(); },
    openApplication: function (params, cb) { noop(cb)(); },
    closeApplication: function (cb) { noop(cb)(); },
    openPath: function (path, cb) { noop(cb)(); },
    getAuth: getAuth,
    refreshAuth: refreshAuth,
    getDomain: function () { return session ? session.auth.domain : DOMAIN; },
    getLang: function () { return LANG; },
    appOption: optionStore("app.option.get", "app.option.set"),
    userOption: optionStore("user.option.get", "user.option.set"),
    _buildQuery: buildQuery
  };

  global.BX24 = BX24;
  load();
})(window);
