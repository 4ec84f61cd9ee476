# Реальный ответ сервера для batch запроса lists.element.add
response = {
    'result': {
        'result': {
            'order0000000000': 53,
            'order0000000001': 55
        },
        'result_error': [],
        'result_total': [],
        'result_next': [],
        'result_time': {
            'order0000000000': {
                'start': 1753131158.036666,
                'finish': 1753131158.062972,
                'duration': 0.02630615234375,
                'processing': 0.02588796615600586,
                'date_start': '2025-07-21T23:52:38+03:00',
                'date_finish': '2025-07-21T23:52:38+03:00',
                'operating_reset_at': 1753131758,
                'operating': 0
            },
            'order0000000001': {
                'start': 1753131158.063716,
                'finish': 1753131158.071189,
                'duration': 0.007472991943359375,
                'processing': 0.007107973098754883,
                'date_start': '2025-07-21T23:52:38+03:00',
                'date_finish': '2025-07-21T23:52:38+03:00',
                'operating_reset_at': 1753131758,
                'operating': 0
            }
        }
    },
    'time': {
        'start': 1753131158.015463,
        'finish': 1753131158.071819,
        'duration': 0.056355953216552734,
        'processing': 0.03529095649719238,
        'date_start': '2025-07-21T23:52:38+03:00',
        'date_finish': '2025-07-21T23:52:38+03:00',
        'operating_reset_at': 1753131758,
        'operating': 0
    }
}
