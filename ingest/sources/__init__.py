"""Where events come from: file tail, STOMP queues, HTTP POST; each puts `Delivery`s into the inbox."""
