//! What the application declared through the connection and has not
//! deleted since: exchanges, queues and bindings, in the order they were
//! first declared, to be declared again on a new connection. Recorded from
//! the methods the broker accepted; passive declares are questions, not
//! declarations, and are not recorded.

use amqp_wire::{
    ExchangeBind, ExchangeDeclare, ExchangeUnbind, Method, QueueBind, QueueDeclare, QueueUnbind,
    ShortString,
};

/// A binding, as its bind method (queue.bind 50/20, exchange.bind 40/30)
/// with `nowait` cleared: restored one at a time, each answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Binding {
    Queue(QueueBind),
    Exchange(ExchangeBind),
}

/// A queue to declare again. `server_named`: it was declared with an empty
/// name, so it is declared again with one and gets a new name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordedQueue {
    pub(crate) declare: QueueDeclare,
    pub(crate) server_named: bool,
}

/// One step of topology restoration, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entity {
    Exchange(ExchangeDeclare),
    Queue(RecordedQueue),
    Binding(Binding),
}

impl Entity {
    /// The method that declares it again; a server-named queue's with an
    /// empty name.
    pub(crate) fn method(&self) -> Method {
        match self {
            Self::Exchange(e) => e.clone().into(),
            Self::Queue(q) => {
                let mut declare = q.declare.clone();
                if q.server_named {
                    declare.queue = ShortString::default();
                }
                declare.into()
            }
            Self::Binding(Binding::Queue(b)) => b.clone().into(),
            Self::Binding(Binding::Exchange(b)) => b.clone().into(),
        }
    }

    /// A server-named queue came back as `new`: a binding of `old` is now
    /// of `new`.
    pub(crate) fn rename_queue(&mut self, old: &ShortString, new: &ShortString) {
        if let Self::Binding(Binding::Queue(b)) = self {
            if b.queue == *old {
                b.queue = new.clone();
            }
        }
    }

    /// How events name it: `queue.declare "tasks"`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Exchange(e) => format!("exchange.declare {:?}", e.exchange),
            Self::Queue(q) => format!("queue.declare {:?}", q.declare.queue),
            Self::Binding(Binding::Queue(b)) => format!(
                "queue.bind {:?} to {:?} with {:?}",
                b.queue, b.exchange, b.routing_key
            ),
            Self::Binding(Binding::Exchange(b)) => format!(
                "exchange.bind {:?} to {:?} with {:?}",
                b.destination, b.source, b.routing_key
            ),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Topology {
    exchanges: Vec<ExchangeDeclare>,
    queues: Vec<RecordedQueue>,
    bindings: Vec<Binding>,
}

impl Topology {
    /// Whether `method` changes what is recorded (so its reply is wanted).
    pub(crate) fn records(method: &Method) -> bool {
        match method {
            Method::ExchangeDeclare(d) => !d.passive,
            Method::QueueDeclare(d) => !d.passive,
            Method::ExchangeDelete(_)
            | Method::QueueDelete(_)
            | Method::QueueBind(_)
            | Method::QueueUnbind(_)
            | Method::ExchangeBind(_)
            | Method::ExchangeUnbind(_) => true,
            _ => false,
        }
    }

    /// The broker accepted `method`; `reply` is its answer (queue.declare-ok
    /// names a server-named queue), `None` if sent with nowait.
    pub(crate) fn record(&mut self, method: &Method, reply: Option<&Method>) {
        match method {
            Method::ExchangeDeclare(d) if !d.passive => {
                let mut d = d.clone();
                d.nowait = false;
                match self.exchanges.iter_mut().find(|e| e.exchange == d.exchange) {
                    Some(e) => *e = d,
                    None => self.exchanges.push(d),
                }
            }
            Method::QueueDeclare(d) if !d.passive => {
                let mut d = d.clone();
                d.nowait = false;
                let server_named = d.queue.is_empty();
                if let Some(Method::QueueDeclareOk(ok)) = reply {
                    d.queue = ok.queue.clone();
                }
                if d.queue.is_empty() {
                    return; // nowait with no name: nothing to declare again by
                }
                let recorded = RecordedQueue {
                    declare: d,
                    server_named,
                };
                match self
                    .queues
                    .iter_mut()
                    .find(|q| q.declare.queue == recorded.declare.queue)
                {
                    // Declared again by name: keep how it was first named.
                    Some(q) => q.declare = recorded.declare,
                    None => self.queues.push(recorded),
                }
            }
            Method::ExchangeDelete(d) => self.forget_exchange(&d.exchange),
            Method::QueueDelete(d) => self.forget_queue(&d.queue),
            Method::QueueBind(b) => {
                let mut b = b.clone();
                b.nowait = false;
                self.add_binding(Binding::Queue(b));
            }
            Method::ExchangeBind(b) => {
                let mut b = b.clone();
                b.nowait = false;
                self.add_binding(Binding::Exchange(b));
            }
            Method::QueueUnbind(u) => self.unbind_queue(u),
            Method::ExchangeUnbind(u) => self.unbind_exchange(u),
            _ => {}
        }
    }

    fn add_binding(&mut self, binding: Binding) {
        if !self.bindings.contains(&binding) {
            self.bindings.push(binding);
        }
    }

    fn unbind_queue(&mut self, u: &QueueUnbind) {
        self.bindings.retain(|b| {
            !matches!(b, Binding::Queue(b) if b.queue == u.queue
                && b.exchange == u.exchange
                && b.routing_key == u.routing_key
                && b.arguments == u.arguments)
        });
        self.forget_unused_auto_delete_exchange(&u.exchange);
    }

    fn unbind_exchange(&mut self, u: &ExchangeUnbind) {
        self.bindings.retain(|b| {
            !matches!(b, Binding::Exchange(b) if b.destination == u.destination
                && b.source == u.source
                && b.routing_key == u.routing_key
                && b.arguments == u.arguments)
        });
        self.forget_unused_auto_delete_exchange(&u.source);
    }

    /// An auto-delete exchange goes away with its last binding (as source).
    fn forget_unused_auto_delete_exchange(&mut self, exchange: &ShortString) {
        let auto_delete = self
            .exchanges
            .iter()
            .any(|e| e.exchange == *exchange && e.auto_delete);
        let bound = self.bindings.iter().any(|b| match b {
            Binding::Queue(b) => b.exchange == *exchange,
            Binding::Exchange(b) => b.source == *exchange,
        });
        if auto_delete && !bound {
            self.forget_exchange(exchange);
        }
    }

    /// The exchange and every binding to or from it.
    pub(crate) fn forget_exchange(&mut self, exchange: &ShortString) {
        self.exchanges.retain(|e| e.exchange != *exchange);
        self.bindings.retain(|b| match b {
            Binding::Queue(b) => b.exchange != *exchange,
            Binding::Exchange(b) => b.source != *exchange && b.destination != *exchange,
        });
    }

    /// The queue and its bindings.
    pub(crate) fn forget_queue(&mut self, queue: &ShortString) {
        self.queues.retain(|q| q.declare.queue != *queue);
        let mut sources = Vec::new();
        self.bindings.retain(|b| match b {
            Binding::Queue(b) if b.queue == *queue => {
                sources.push(b.exchange.clone());
                false
            }
            _ => true,
        });
        for exchange in sources {
            self.forget_unused_auto_delete_exchange(&exchange);
        }
    }

    /// The last consumer of `queue` was cancelled by the application: an
    /// auto-delete queue is gone with it.
    pub(crate) fn last_consumer_cancelled(&mut self, queue: &ShortString) {
        if self
            .queues
            .iter()
            .any(|q| q.declare.queue == *queue && q.declare.auto_delete)
        {
            self.forget_queue(queue);
        }
    }

    /// A server-named queue was declared again as `new`.
    pub(crate) fn rename_queue(&mut self, old: &ShortString, new: &ShortString) {
        for q in &mut self.queues {
            if q.declare.queue == *old {
                q.declare.queue = new.clone();
            }
        }
        for b in &mut self.bindings {
            if let Binding::Queue(b) = b {
                if b.queue == *old {
                    b.queue = new.clone();
                }
            }
        }
    }

    /// Everything to declare again, in order: exchanges, queues, bindings
    /// (a binding needs both ends).
    pub(crate) fn entities(&self) -> Vec<Entity> {
        let exchanges = self.exchanges.iter().cloned().map(Entity::Exchange);
        let queues = self.queues.iter().cloned().map(Entity::Queue);
        let bindings = self.bindings.iter().cloned().map(Entity::Binding);
        exchanges.chain(queues).chain(bindings).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_wire::{ExchangeDelete, FieldTable, QueueDeclareOk, QueueDelete};

    fn queue(name: &str, auto_delete: bool) -> Method {
        QueueDeclare {
            queue: name.into(),
            auto_delete,
            ..Default::default()
        }
        .into()
    }

    fn declared(name: &str) -> Method {
        QueueDeclareOk {
            queue: name.into(),
            message_count: 0,
            consumer_count: 0,
        }
        .into()
    }

    fn bind(queue: &str, exchange: &str, key: &str) -> QueueBind {
        QueueBind {
            queue: queue.into(),
            exchange: exchange.into(),
            routing_key: key.into(),
            ..Default::default()
        }
    }

    fn exchange(name: &str, auto_delete: bool) -> Method {
        ExchangeDeclare {
            exchange: name.into(),
            r#type: "direct".into(),
            auto_delete,
            ..Default::default()
        }
        .into()
    }

    fn names(t: &Topology) -> Vec<String> {
        t.entities().iter().map(Entity::describe).collect()
    }

    #[test]
    fn entities_come_back_exchanges_then_queues_then_bindings() {
        let mut t = Topology::default();
        t.record(&queue("q", false), Some(&declared("q")));
        t.record(&bind("q", "x", "k").into(), None);
        t.record(&exchange("x", false), None);
        assert_eq!(
            names(&t),
            [
                r#"exchange.declare "x""#,
                r#"queue.declare "q""#,
                r#"queue.bind "q" to "x" with "k""#
            ]
        );
    }

    #[test]
    fn passive_declares_are_not_recorded_and_redeclares_replace() {
        let mut t = Topology::default();
        let passive = QueueDeclare {
            queue: "q".into(),
            passive: true,
            ..Default::default()
        };
        assert!(!Topology::records(&passive.clone().into()));
        t.record(&passive.into(), Some(&declared("q")));
        assert!(t.entities().is_empty());
        t.record(&queue("q", false), Some(&declared("q")));
        t.record(&queue("q", true), Some(&declared("q")));
        assert_eq!(t.entities().len(), 1);
    }

    #[test]
    fn a_server_named_queue_is_declared_again_without_a_name_and_renamed() {
        let mut t = Topology::default();
        t.record(&queue("", true), Some(&declared("amq.gen-old")));
        t.record(&bind("amq.gen-old", "logs", "").into(), None);
        let Entity::Queue(q) = &t.entities()[0] else {
            panic!("a queue first")
        };
        assert!(q.server_named);
        let Method::QueueDeclare(again) = t.entities()[0].method() else {
            panic!("queue.declare")
        };
        assert_eq!(again.queue, "", "never the old amq.gen- name (403)");
        t.rename_queue(&"amq.gen-old".into(), &"amq.gen-new".into());
        assert_eq!(
            names(&t)[1],
            r#"queue.bind "amq.gen-new" to "logs" with """#
        );
    }

    #[test]
    fn deletes_and_unbinds_forget_what_they_remove() {
        let mut t = Topology::default();
        t.record(&exchange("x", false), None);
        t.record(&queue("q", false), Some(&declared("q")));
        t.record(&queue("r", false), Some(&declared("r")));
        t.record(&bind("q", "x", "a").into(), None);
        t.record(&bind("q", "x", "b").into(), None);
        t.record(&bind("r", "x", "a").into(), None);
        let unbind = QueueUnbind {
            queue: "q".into(),
            exchange: "x".into(),
            routing_key: "a".into(),
            arguments: FieldTable::new(),
            ..Default::default()
        };
        t.record(&unbind.into(), None);
        assert_eq!(t.entities().len(), 5);
        let delete = QueueDelete {
            queue: "q".into(),
            ..Default::default()
        };
        t.record(&delete.into(), None);
        assert_eq!(
            names(&t),
            [
                r#"exchange.declare "x""#,
                r#"queue.declare "r""#,
                r#"queue.bind "r" to "x" with "a""#
            ]
        );
        let delete = ExchangeDelete {
            exchange: "x".into(),
            ..Default::default()
        };
        t.record(&delete.into(), None);
        assert_eq!(names(&t), [r#"queue.declare "r""#]);
    }

    #[test]
    fn auto_delete_entities_go_with_their_last_consumer_or_binding() {
        let mut t = Topology::default();
        t.record(&exchange("x", true), None);
        t.record(&queue("q", true), Some(&declared("q")));
        t.record(&bind("q", "x", "k").into(), None);
        t.last_consumer_cancelled(&"q".into());
        assert!(t.entities().is_empty(), "{:?}", names(&t));
    }
}
