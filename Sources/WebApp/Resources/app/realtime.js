// A small Supabase Realtime client (Phoenix channels over a WebSocket, protocol 1.0.0), enough for
// the live home feed: join `realtime:home` with the user's token, hear `new_post`, send every new
// access token to the channel (the server ends a membership whose token expires), heartbeats, and
// reconnection with backoff when the socket or the server goes away.
import { accessToken, anonKey, onTokenChange } from "/app/assets/api.js";

const HEARTBEAT_MS = 25_000;

export class LiveChannel {
  /** `topic` without the `realtime:` prefix; `onEvent(event, payload)` for broadcasts. */
  constructor(topic, onEvent, onStatus = () => {}) {
    this.topic = `realtime:${topic}`;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.ref = 0;
    this.joinRef = null;
    this.socket = null;
    this.closed = false;
    this.attempt = 0;
    this.unsubscribe = onTokenChange((token) => {
      if (token && this.joinRef) this.send("access_token", { access_token: token });
    });
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/realtime/v1/websocket?apikey=${encodeURIComponent(anonKey())}&vsn=1.0.0`);
    this.socket = socket;
    socket.addEventListener("open", () => this.join());
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", () => this.lost());
    socket.addEventListener("error", () => socket.close());
  }

  async join() {
    const token = await accessToken().catch(() => null);
    if (!token) { this.socket.close(); return; }
    this.joinRef = String(++this.ref);
    this.send("phx_join", { config: { broadcast: { self: false }, presence: { key: "" }, private: false }, access_token: token }, this.joinRef);
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.raw({ topic: "phoenix", event: "heartbeat", payload: {}, ref: String(++this.ref) }), HEARTBEAT_MS);
  }

  send(event, payload, ref = String(++this.ref)) {
    this.raw({ topic: this.topic, event, payload, ref, join_ref: this.joinRef });
  }

  raw(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(text) {
    let message;
    try { message = JSON.parse(text); } catch { return; }
    if (message.topic !== this.topic) return;
    if (message.event === "phx_reply" && message.ref === this.joinRef) {
      const ok = message.payload && message.payload.status === "ok";
      if (ok) { this.attempt = 0; this.onStatus("live"); } else this.onStatus("refused");
    } else if (message.event === "broadcast" && message.payload) {
      this.onEvent(message.payload.event, message.payload.payload);
    } else if (message.event === "phx_close" || message.event === "phx_error") {
      // The server ended the membership (an expired token, a restart): join again shortly.
      this.joinRef = null;
      this.onStatus("reconnecting");
      setTimeout(() => { if (!this.closed && this.socket.readyState === WebSocket.OPEN) this.join(); }, 1000);
    }
  }

  lost() {
    clearInterval(this.heartbeat);
    this.joinRef = null;
    if (this.closed) return;
    this.onStatus("reconnecting");
    // 1 s, 2 s, 4 s … up to 30 s, with jitter, so that a restarted server is not stampeded.
    const delay = Math.min(30_000, 1000 * 2 ** this.attempt++) * (0.75 + Math.random() / 2);
    setTimeout(() => this.connect(), delay);
  }

  close() {
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.heartbeat);
    if (this.socket) this.socket.close();
  }
}
